// `cave keys rotate ID [--grace 24h] [--json]`: issue the key's successor (same role and scope);
// the old key keeps working for the grace period (cave.yaml keys.rotation_grace, default 24h),
// then is refused with AUTH_KEY_EXPIRED.
import { defineCommand } from "citty";
import { CaveError } from "../../../core/errors.ts";
import { keyArgs, withKeys } from "./_shared.ts";

export default defineCommand({
  meta: { name: "rotate", description: "Issue a key's successor; the old one stays valid for the grace period." },
  args: {
    ...keyArgs,
    id: { type: "positional", required: true, description: "The key's id (cave keys list)." },
    grace: {
      type: "string",
      description: "How long the old key stays valid: 24h, 30m, 0 (default: keys.rotation_grace, else 24h).",
    },
  },
  async run({ args }) {
    let graceMs: number | undefined;
    if (args.grace !== undefined) {
      const { parseLongDuration } = await import("../../../../schema/governance.ts");
      const r = parseLongDuration(args.grace, true);
      if (typeof r === "string") throw new CaveError("USAGE", `--grace: ${r}`);
      graceMs = r;
    }
    await withKeys(
      args,
      async (keys) => {
        const r = await keys.rotate(args.id, graceMs === undefined ? {} : { graceMs });
        if (args.json) {
          console.log(JSON.stringify(r));
          return;
        }
        console.log(r.key);
        process.stderr.write(
          `cave: key ${r.previous.id} rotated to ${r.id}; the old key works until ${r.previous.expiresAt}; the secret above is shown once\n`,
        );
      },
      { events: true },
    );
  },
});
