// `cave audit tail [-n N] [-f] [--json]`: the last events of the audit log, for people
// (time actor action target outcome) or as the stored JSON lines; -f follows across rotation.
import { defineCommand } from "citty";
import { auditArgs, auditDirOf } from "./_shared.ts";

export default defineCommand({
  meta: { name: "tail", description: "Print the last audit events; -f keeps printing new ones." },
  args: {
    ...auditArgs,
    lines: { type: "string", alias: "n", description: "How many events (default 10)." },
    follow: { type: "boolean", alias: "f", description: "Keep printing events as they are appended (Ctrl-C ends)." },
    json: { type: "boolean", description: "Print each event as its stored JSON line." },
  },
  async run({ args }) {
    const { lastLines, readSince, formatHuman } = await import("../../../audit/read.ts");
    const { CaveError } = await import("../../../core/errors.ts");
    const n = args.lines === undefined ? 10 : Number(args.lines);
    if (!Number.isSafeInteger(n) || n < 0) {
      throw new CaveError("USAGE", `-n ${args.lines} is not a whole number`, { hint: "e.g. -n 50" });
    }
    const dir = await auditDirOf(args);
    const print = (ls: import("../../../audit/read.ts").ReadLine[]) => {
      if (ls.length === 0) return;
      process.stdout.write(`${ls.map((l) => (args.json ? l.text : formatHuman(l))).join("\n")}\n`);
    };
    const first = lastLines(dir, n);
    print(first.lines);
    if (!args.follow) return;
    let pos = first.end;
    // Polling, not inotify: it sees files created by rotation and works on any filesystem.
    await new Promise<never>(() => {
      setInterval(() => {
        const next = readSince(dir, pos);
        print(next.lines);
        pos = next.end;
      }, 200);
    });
  },
});
