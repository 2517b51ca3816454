// `cave run [options] -- CMD [ARGS…]`: one command in a fresh sandbox, its exit
// status passed through. A thin adapter: settings → SandboxSpec → runSandbox.
import type { CommandDef } from "citty";
import { splitCommandArgs } from "../args.ts";
import { CaveError } from "../../core/errors.ts";
import type { RunSettings } from "../../core/config.ts";
import { REPEATABLE_RUN_OPTIONS, runSettingsFrom } from "../run-settings.ts";
import { warn, writeStderr } from "../../core/log.ts";
import { formatMarks, getMarks, mark } from "../../core/trace.ts";
import { isatty } from "../../../ffi/libc.ts";
import { runSandbox, type RunResult } from "../../sandbox/run.ts";
import { buildSeccompFilter } from "../../sandbox/seccomp/index.ts";
import type { Rlimit } from "../../sandbox/plan.ts";

export const runArgs = {
  timeout: { type: "string", description: "Wall-clock limit: 90, 90s, 500ms, 2m (default 120s)." },
  memory: { type: "string", description: "Memory limit, no swap: 512M, 2G, none (default 1G)." },
  cpus: { type: "string", description: "CPU limit in cores: 0.5, 1.5, none (default 2)." },
  pids: { type: "string", description: "Most processes and threads at once, or none (default 1024)." },
  disk: { type: "string", description: "Size of the tmpfs that holds every write: 512M, 1G (default 1G)." },
  network: { type: "string", description: "none (default: own namespace, only lo) or host." },
  seccomp: { type: "string", description: "Syscall filter: default, strict or none." },
  "cap-add": { type: "string", description: "Keep a capability, e.g. NET_BIND_SERVICE (repeatable)." },
  rlimit: { type: "string", description: "Set an rlimit NAME=VALUE: nofile, nproc, fsize, core (repeatable)." },
  hostname: { type: "string", description: "Hostname inside the sandbox (default cave)." },
  workdir: { type: "string", description: "Working directory inside the sandbox (default /)." },
  rootfs: { type: "string", description: "Host directory to use as the root instead of /." },
  env: { type: "string", description: "Add K=V to the environment (repeatable)." },
  bind: { type: "string", description: "Bind SRC:DST[:ro] from the host (repeatable)." },
  config: { type: "string", description: "Config file (default ./cave.yaml if present)." },
  json: { type: "boolean", description: "Print the result (exitCode, signal, reason, durationMs) as one JSON line on stderr." },
  debug: { type: "boolean", description: "Show causes and stacks of errors." },
} as const;

/** The verb for citty (help, `cave run` through the root); main.ts also calls runMain directly. */
const command: CommandDef = {
  meta: { name: "run", description: "Run a command in a fresh sandbox: cave run [options] -- CMD [ARGS…]" },
  args: { ...runArgs, command: { type: "positional", description: "The command and its arguments.", required: true } },
  run: ({ rawArgs }) => runMain(rawArgs),
};
export default command;

/** `cave run` itself, callable without citty: main.ts's fast path skips loading it. */
export async function runMain(rawArgs: string[]): Promise<never> {
  mark("run command loaded");
  const { options, command } = splitCommandArgs(rawArgs, runArgs, REPEATABLE_RUN_OPTIONS);
  if (command.length === 0) {
    throw new CaveError("USAGE", "no command given", { hint: "cave run [options] -- CMD [ARGS…], e.g. cave run -- echo hello" });
  }
  const s = runSettingsFrom(options);
  mark("settings resolved");
  if (s.network === "host") warn("--network host: the sandbox shares the host's network namespace and reaches its services");
  if (s.seccomp === "none") {
    warn("--seccomp none: no syscall filter; the kernel's whole surface is reachable, and the command can plant setuid/setgid files owned by the host's root in read-write binds");
  }
  const seccomp = buildSeccompFilter(s.seccomp);
  mark("seccomp filter built");
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
      tty: isatty(0) && isatty(1),
      rlimits: rlimitsOf(s),
    },
    {
      timeoutMs: s.timeoutMs,
      limits: { memoryBytes: s.memoryBytes, cpus: s.cpus, pids: s.pids },
      seccomp,
      keepCaps: s.capAdd.length ? (require("../../core/capabilities.ts") as typeof import("../../core/capabilities.ts")).capabilityMask(s.capAdd) : 0n,
      onWarning: warn,
    },
  );
  mark("sandbox finished");
  report(result, options.json === true);
  if (options.debug) writeStderr(`cave: phases\n${formatMarks()}\n`);
  // OpenTelemetry only when an endpoint is configured: the module loads after the command.
  if (process.env.OTEL_EXPORTER_OTLP_ENDPOINT || process.env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT) {
    const { exportRunSpan, tracesConfigured } = await import("../../telemetry/run.ts");
    if (tracesConfigured(process.env)) {
      await exportRunSpan({ argv0: command[0] ?? "", result, marks: getMarks(), env: process.env, warn });
    }
  }
  process.exit(result.exitCode);
}

function rlimitsOf(s: RunSettings): Rlimit[] {
  const out: Rlimit[] = [
    { name: "nofile", value: s.rlimits.nofile },
    { name: "core", value: s.rlimits.core },
  ];
  if (s.rlimits.nproc !== undefined) out.push({ name: "nproc", value: s.rlimits.nproc });
  if (s.rlimits.fsize !== undefined) out.push({ name: "fsize", value: s.rlimits.fsize });
  return out;
}

function report(r: RunResult, json: boolean) {
  if (json) {
    const { exitCode, signal, reason, message } = r;
    const durationMs = Math.round(r.durationMs * 10) / 10;
    writeStderr(`${JSON.stringify({ exitCode, signal, reason, durationMs, ...(message ? { message } : {}) })}\n`);
  } else if (r.message && r.reason !== "exit") {
    writeStderr(`cave: ${r.message}\n`);
  }
}

