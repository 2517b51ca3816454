// `cave create [run options] [--name N]`: a persistent sandbox with `cave run`'s isolation and
// limits; its writable layer is a disk image of --disk bytes under the data directory.
// Prints the id (or the sandbox as JSON with --json).
import type { CommandDef } from "citty";
import { CaveError } from "../../../core/errors.ts";
import { arr, REPEATABLE_RUN_OPTIONS, runSettingsFrom, str } from "../../run-settings.ts";
import { splitCommandArgs } from "../../args.ts";
import { runArgs } from "../run.ts";
import { boxArgs, openSandboxes, toJson } from "./_shared.ts";

const { json: _json, debug: _debug, config: _config, ...sandboxRunArgs } = runArgs;
export const createArgs = {
  ...sandboxRunArgs,
  ...boxArgs,
  timeout: { type: "string", description: "Default wall-clock limit of each exec: 90s, 2m (default 120s)." },
  disk: { type: "string", description: "Size of the disk image that holds every write, kept across restarts: 512M, 1G (default 1G)." },
  name: { type: "string", description: "A unique name to use instead of the id." },
  json: { type: "boolean", description: "Print the sandbox as JSON instead of its id." },
} as const;

const command: CommandDef = {
  meta: { name: "create", description: "Create a persistent sandbox: cave create [run options] [--name N] → id" },
  args: createArgs,
  async run({ rawArgs }) {
    const { options, command } = splitCommandArgs(rawArgs, createArgs, REPEATABLE_RUN_OPTIONS);
    if (command.length > 0) {
      throw new CaveError("USAGE", `cave create takes no command (got ${command[0]})`, { hint: "start it with cave start ID, then cave exec ID -- CMD" });
    }
    const settings = () => runSettingsFrom(options);
    // What a remote cave serve takes, from the same flags (checked there).
    const body: Record<string, unknown> = {};
    for (const k of ["memory", "cpus", "pids", "disk", "timeout", "network", "seccomp", "hostname", "workdir"] as const) if (str(options[k]) !== undefined) body[k] = str(options[k]);
    const env = arr(options.env);
    if (env) body.env = Object.fromEntries(env.map((kv) => [kv.slice(0, Math.max(0, kv.indexOf("="))), kv.slice(kv.indexOf("=") + 1)]));
    const localOnly = (["bind", "cap-add", "rlimit", "rootfs", "config"] as const).filter((k) => options[k] !== undefined).map((k) => `--${k}`);
    const boxes = await openSandboxes({ "data-dir": str(options["data-dir"]), config: str(options.config), url: str(options.url), key: str(options.key) });
    try {
      const sb = await boxes.create({ settings, body, localOnly, name: str(options.name) });
      console.log(options.json ? toJson(sb) : sb.id);
    } finally {
      boxes.close();
    }
  },
};
export default command;

