// `cave version`: the version, and with --json the build facts a bug report needs.
import { defineCommand } from "citty";
import pkg from "../../../package.json" with { type: "json" };

export default defineCommand({
  meta: { name: "version", description: "Print cave's version." },
  args: { json: { type: "boolean", description: "Print JSON: version, bun, platform." } },
  run({ args }) {
    if (args.json) {
      console.log(JSON.stringify({ version: pkg.version, bun: Bun.version, platform: `${process.platform}-${process.arch}` }));
    } else {
      console.log(`cave ${pkg.version}`);
    }
  },
});
