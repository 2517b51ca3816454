// `cave ls [--json]`: every sandbox with its status (a running one whose init is gone shows as
// lost). It also stops whatever runs in a sandbox cgroup that no known running sandbox owns.
import { defineCommand } from "citty";
import { boxArgs, line, openSandboxes, toJson } from "./_shared.ts";

export default defineCommand({
  meta: { name: "ls", description: "List persistent sandboxes." },
  args: { ...boxArgs, json: { type: "boolean", description: "One JSON array of sandboxes." } },
  async run({ args }) {
    const boxes = await openSandboxes(args);
    try {
      await boxes.recover();
      const all = await boxes.list();
      if (args.json) console.log(`[${all.map(toJson).join(",")}]`);
      else {
        console.log(["ID", "NAME", "STATUS", "STARTED", "CREATED"].join("\t"));
        for (const s of all) console.log(line(s));
      }
    } finally {
      boxes.close();
    }
  },
});
