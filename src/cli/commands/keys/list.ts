// `cave keys list [--json]`: every API key with its role, scope and status; never a secret.
import { defineCommand } from "citty";
import { HEADER, keyArgs, line, withKeys } from "./_shared.ts";

export default defineCommand({
  meta: { name: "list", description: "List API keys (id, role, scope, status; never secrets)." },
  args: keyArgs,
  async run({ args }) {
    await withKeys(args, async (keys) => {
      const all = await keys.list();
      if (args.json) console.log(JSON.stringify(all));
      else {
        console.log(HEADER);
        for (const k of all) console.log(line(k));
      }
    });
  },
});
