// `cave rm ID [--force]`: removes a sandbox, its disk image and its history; --force stops it first.
import { defineCommand } from "citty";
import { boxArgs, openSandboxes } from "./_shared.ts";

export default defineCommand({
  meta: { name: "rm", description: "Remove a sandbox with its disk and history (--force: stop it first)." },
  args: {
    ...boxArgs,
    id: { type: "positional", description: "Sandbox id or name.", required: true },
    force: { type: "boolean", description: "Kill a running sandbox (no grace) before removing it." },
  },
  async run({ args }) {
    const boxes = await openSandboxes(args);
    try {
      const s = await boxes.get(args.id);
      await boxes.rm(s.id, args.force === true);
      console.log(s.id);
    } finally {
      boxes.close();
    }
  },
});
