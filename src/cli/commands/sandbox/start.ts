// `cave start ID`: starts the sandbox's init, which holds its namespaces and cgroup and keeps
// running after this command exits.
import { defineCommand } from "citty";
import { boxArgs, openSandboxes, toJson } from "./_shared.ts";

export default defineCommand({
  meta: { name: "start", description: "Start a persistent sandbox (its init keeps running after cave exits)." },
  args: { ...boxArgs, id: { type: "positional", description: "Sandbox id or name.", required: true }, json: { type: "boolean", description: "Print the sandbox as JSON." } },
  async run({ args }) {
    const boxes = await openSandboxes(args);
    try {
      const s = await boxes.start(args.id);
      console.log(args.json ? toJson(s) : s.id);
    } finally {
      boxes.close();
    }
  },
});
