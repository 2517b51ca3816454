// `cave logs ID [--limit N] [--json]`: the sandbox's execution log, oldest first: when each
// command ran, how it ended, how long it took. (Command output is not kept: exec passes it
// through, and the API returns or streams it.)
import { defineCommand } from "citty";
import { boxArgs, openSandboxes } from "./_shared.ts";

/** argv as a shell would take it back: words with odd characters single-quoted. */
function shellLine(argv: string[]): string {
  return argv.map((a) => (/^[A-Za-z0-9_@%+=:,./-]+$/.test(a) ? a : `'${a.replaceAll("'", "'\\''")}'`)).join(" ");
}

export default defineCommand({
  meta: { name: "logs", description: "Show a sandbox's execution log: time, status, duration and command of each exec." },
  args: {
    ...boxArgs,
    id: { type: "positional", description: "Sandbox id or name.", required: true },
    limit: { type: "string", description: "How many of the latest executions (default 100)." },
    json: { type: "boolean", description: "One JSON object per line." },
  },
  async run({ args }) {
    const boxes = await openSandboxes(args);
    try {
      const list = (await boxes.executions(args.id, Number(args.limit ?? 100) || 100)).reverse();
      for (const e of list) {
        if (args.json) {
          console.log(JSON.stringify(e));
          continue;
        }
        const status = e.finishedAt === null ? "running" : e.reason === "exit" ? `exit ${e.exitCode}` : `${e.reason} (${e.exitCode}${e.signal ? `, ${e.signal}` : ""})`;
        const took = e.durationMs === null ? "-" : `${Math.round(e.durationMs * 10) / 10}ms`;
        console.log(`${e.startedAt}  #${e.id}  ${status}  ${took}  ${shellLine(e.argv)}`);
      }
    } finally {
      boxes.close();
    }
  },
});
