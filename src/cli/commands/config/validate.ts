// `cave config validate [FILE]`: checks a cave.yaml against the schema; exit 0 when valid.
import { defineCommand } from "citty";
import { CaveError } from "../../../core/errors.ts";
import { findProjectConfig, loadConfigFile, resolveRunSettings } from "../../../core/config.ts";

export default defineCommand({
  meta: { name: "validate", description: "Check a config file (default ./cave.yaml) and print the resolved run settings." },
  args: {
    file: { type: "positional", required: false, description: "The file to check (default ./cave.yaml)." },
    json: { type: "boolean", description: "Print the resolved settings as JSON." },
    debug: { type: "boolean", description: "Show causes and stacks of errors." },
  },
  run({ args }) {
    const path = args.file || findProjectConfig(process.cwd());
    if (!path) {
      throw new CaveError("CONFIG_NOT_FOUND", "no cave.yaml in the current directory", { hint: "give a file: cave config validate FILE" });
    }
    const config = loadConfigFile(path);
    // Resolving parses every unit, so values the schema lets through as strings are checked too.
    const settings = resolveRunSettings({ file: config.run });
    if (args.json) console.log(JSON.stringify({ file: path, valid: true, run: settings }));
    else console.log(`${path}: valid`);
  },
});
