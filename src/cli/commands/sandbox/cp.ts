// `cave cp SRC DST`: copies one file into or out of a running sandbox; the sandbox side is
// written ID:/abs/path, the host side a path or - (stdin or stdout). The copy runs inside the
// sandbox as an exec (as confined as any), so it reads and writes only what the sandbox can.
import { readFileSync, writeFileSync } from "node:fs";
import { defineCommand } from "citty";
import { CaveError } from "../../../core/errors.ts";
import { boxArgs, openSandboxes } from "./_shared.ts";

const INSIDE = /^([A-Za-z0-9][A-Za-z0-9_.-]*):(\/.*)$/;

export default defineCommand({
  meta: { name: "cp", description: "Copy a file into or out of a running sandbox: cave cp FILE ID:/path, cave cp ID:/path FILE (- is stdin/stdout)." },
  args: {
    ...boxArgs,
    src: { type: "positional", description: "FILE, - or ID:/path", required: true },
    dst: { type: "positional", description: "ID:/path, FILE or -", required: true },
  },
  async run({ args }) {
    const from = INSIDE.exec(args.src);
    const to = INSIDE.exec(args.dst);
    if ((from && to) || (!from && !to)) {
      throw new CaveError("USAGE", "exactly one side of cave cp is in a sandbox (ID:/path)", { hint: "cave cp ./file ID:/root/file, or cave cp ID:/root/file ./file" });
    }
    const boxes = await openSandboxes(args);
    try {
      if (to) {
        const data = args.src === "-" ? readFileSync(0) : readFileSync(args.src);
        await boxes.writeFile(to[1] as string, to[2] as string, data);
      } else if (from) {
        const data = await boxes.readFile(from[1] as string, from[2] as string);
        if (args.dst === "-") process.stdout.write(data);
        else writeFileSync(args.dst, data);
      }
    } finally {
      boxes.close();
    }
  },
});
