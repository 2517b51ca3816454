// `cave inspect ID`: the sandbox (config, status, init pid, timestamps), what it uses now
// (memory, processes, CPU time from its cgroup) and its latest executions, as JSON.
import { defineCommand } from "citty";
import { boxArgs, openSandboxes } from "./_shared.ts";

export default defineCommand({
  meta: { name: "inspect", description: "Show a sandbox and its latest executions as JSON." },
  args: {
    ...boxArgs,
    id: { type: "positional", description: "Sandbox id or name.", required: true },
    executions: { type: "string", description: "How many of the latest executions to show (default 20)." },
  },
  async run({ args }) {
    const boxes = await openSandboxes(args);
    try {
      const s = await boxes.get(args.id);
      const executions = await boxes.executions(s.id, Number(args.executions ?? 20) || 20);
      const usage = await boxes.usage(s.id);
      console.log(JSON.stringify({ ...s, usage, executions }, (_k, v) => (v === Number.POSITIVE_INFINITY ? null : v), 2));
    } finally {
      boxes.close();
    }
  },
});
