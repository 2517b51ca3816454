// `cave stop ID [--grace 10s]`: SIGTERM to every process in the sandbox, SIGKILL after the grace period.
import { defineCommand } from "citty";
import { parseDuration } from "../../../core/units.ts";
import { boxArgs, openSandboxes, toJson } from "./_shared.ts";

export default defineCommand({
  meta: { name: "stop", description: "Stop a persistent sandbox: SIGTERM, then SIGKILL after --grace." },
  args: {
    ...boxArgs,
    id: { type: "positional", description: "Sandbox id or name.", required: true },
    grace: { type: "string", description: "How long processes get to exit after SIGTERM: 10s, 500ms, 0 (default 10s)." },
    json: { type: "boolean", description: "Print the sandbox as JSON." },
  },
  async run({ args }) {
    const grace = args.grace === undefined ? 10_000 : args.grace === "0" ? 0 : parseDuration(args.grace);
    const boxes = await openSandboxes(args);
    try {
      const s = await boxes.stop(args.id, grace);
      console.log(args.json ? toJson(s) : s.id);
    } finally {
      boxes.close();
    }
  },
});
