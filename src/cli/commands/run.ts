// `cave run [options] -- CMD [ARGS…]`: one command in a fresh sandbox, its exit
// status passed through. A thin adapter: settings → SandboxSpec → runSandbox.
import { defineCommand } from "citty";
import { splitCommandArgs } from "../args.ts";
import { CaveError } from "../../core/errors.ts";
import { loadConfigFile, findProjectConfig, resolveRunSettings } from "../../core/config.ts";
import { runSandbox, type RunResult } from "../../sandbox/run.ts";

export const runArgs = {
  timeout: { type: "string", description: "Wall-clock limit: 90, 90s, 500ms, 2m (default 120s)." },
  disk: { type: "string", description: "Size of the tmpfs that holds every write: 512M, 1G (default 1G)." },
  network: { type: "string", description: "none (default: own namespace, only lo) or host." },
  hostname: { type: "string", description: "Hostname inside the sandbox (default cave)." },
  workdir: { type: "string", description: "Working directory inside the sandbox (default /)." },
  rootfs: { type: "string", description: "Host directory to use as the root instead of /." },
  env: { type: "string", description: "Add K=V to the environment (repeatable)." },
  bind: { type: "string", description: "Bind SRC:DST[:ro] from the host (repeatable)." },
  config: { type: "string", description: "Config file (default ./cave.yaml if present)." },
  json: { type: "boolean", description: "Print the result (exitCode, signal, reason, durationMs) as one JSON line on stderr." },
  debug: { type: "boolean", description: "Show causes and stacks of errors." },
} as const;

export default defineCommand({
  meta: { name: "run", description: "Run a command in a fresh sandbox: cave run [options] -- CMD [ARGS…]" },
  args: { ...runArgs, command: { type: "positional", description: "The command and its arguments.", required: true } },
  async run({ rawArgs }) {
    const { options, command } = splitCommandArgs(rawArgs, runArgs, ["env", "bind"]);
    if (command.length === 0) {
      throw new CaveError("USAGE", "no command given", { hint: "cave run [options] -- CMD [ARGS…], e.g. cave run -- echo hello" });
    }
    const configPath = typeof options.config === "string" ? options.config : findProjectConfig(process.cwd());
    const file = configPath ? loadConfigFile(configPath) : undefined;
    const s = resolveRunSettings({
      file: file?.run,
      flags: {
        timeout: str(options.timeout),
        disk: str(options.disk),
        network: str(options.network),
        hostname: str(options.hostname),
        workdir: str(options.workdir),
        rootfs: str(options.rootfs),
        env: arr(options.env),
        bind: arr(options.bind),
      },
    });
    const result = await runSandbox(
      {
        argv: command,
        env: s.env,
        workdir: s.workdir,
        hostname: s.hostname,
        rootfs: s.rootfs ?? "/",
        binds: s.binds,
        network: s.network,
        diskBytes: s.diskBytes,
      },
      { timeoutMs: s.timeoutMs },
    );
    report(result, options.json === true);
    process.exit(result.exitCode);
  },
});

function report(r: RunResult, json: boolean) {
  if (json) {
    process.stderr.write(`${JSON.stringify({ exitCode: r.exitCode, signal: r.signal, reason: r.reason, durationMs: Math.round(r.durationMs * 10) / 10, ...(r.message ? { message: r.message } : {}) })}\n`);
  } else if (r.message && r.reason !== "exit") {
    process.stderr.write(`cave: ${r.message}\n`);
  }
}

const str = (v: unknown) => (typeof v === "string" ? v : undefined);
const arr = (v: unknown) => (Array.isArray(v) ? (v as string[]) : undefined);
