// `cave exec ID [--workdir D] [--env K=V] [--timeout T] -- CMD [ARGS…]`: runs a command in a
// running sandbox, as confined as `cave run`'s; its exit status passes through.
import type { CommandDef } from "citty";
import { CaveError } from "../../../core/errors.ts";
import { writeStderr } from "../../../core/log.ts";
import { parseDuration } from "../../../core/units.ts";
import { isatty } from "../../../../ffi/libc.ts";
import { splitCommandArgs } from "../../args.ts";
import { boxArgs, openSandboxes } from "./_shared.ts";

export const execArgs = {
  ...boxArgs,
  workdir: { type: "string", description: "Working directory inside the sandbox (default: the sandbox's)." },
  env: { type: "string", description: "Add K=V to the environment (repeatable)." },
  timeout: { type: "string", description: "Wall-clock limit: 90s, 500ms, 2m (default: the sandbox's, 120s)." },
  json: { type: "boolean", description: "Print the result (exitCode, signal, reason, durationMs) as one JSON line on stderr." },
} as const;

const command: CommandDef = {
  meta: { name: "exec", description: "Run a command in a running sandbox: cave exec ID [options] -- CMD [ARGS…]" },
  args: { ...execArgs, id: { type: "positional", description: "Sandbox id or name.", required: true } },
  run: ({ rawArgs }) => execMain(rawArgs),
};
export default command;

/** Options may come before or after the id; the command follows `--` (or the id's options). */
function parse(rawArgs: string[]): { options: Record<string, string | boolean | string[]>; id: string; command: string[] } {
  const rep = ["env"];
  const first = splitCommandArgs(rawArgs, execArgs, rep);
  const [id, ...rest] = first.command;
  if (id === undefined) throw new CaveError("USAGE", "no sandbox given", { hint: "cave exec ID [options] -- CMD [ARGS…]" });
  // splitCommandArgs consumed a `--` only if it came before the id; after the id, options run to `--`.
  const consumedDashes = rawArgs.slice(0, rawArgs.length - first.command.length).includes("--");
  if (consumedDashes) return { options: first.options, id, command: rest };
  const second = splitCommandArgs(rest, execArgs, rep);
  const options = { ...first.options };
  for (const [k, v] of Object.entries(second.options)) {
    const prev = options[k];
    options[k] = Array.isArray(prev) && Array.isArray(v) ? [...prev, ...v] : v;
  }
  return { options, id, command: second.command };
}

export async function execMain(rawArgs: string[]): Promise<never> {
  const { options, id, command } = parse(rawArgs);
  if (command.length === 0) throw new CaveError("USAGE", "no command given", { hint: "cave exec ID [options] -- CMD [ARGS…]" });
  const env: Record<string, string> = {};
  for (const kv of Array.isArray(options.env) ? options.env : []) {
    const eq = kv.indexOf("=");
    if (eq <= 0) throw new CaveError("USAGE", `invalid --env ${JSON.stringify(kv)}`, { hint: "use --env NAME=VALUE" });
    env[kv.slice(0, eq)] = kv.slice(eq + 1);
  }
  const timeoutMs = typeof options.timeout === "string" ? parseDuration(options.timeout) : undefined;
  const str = (k: string) => (typeof options[k] === "string" ? (options[k] as string) : undefined);
  const boxes = await openSandboxes({ "data-dir": str("data-dir"), config: str("config"), url: str("url"), key: str("key") });
  let exitCode: number;
  try {
    const r = await boxes.exec(id, {
      argv: command,
      env,
      ...(typeof options.workdir === "string" ? { workdir: options.workdir } : {}),
      ...(timeoutMs !== undefined ? { timeoutMs } : {}),
      // As cave run: a terminal of the sandbox's own when cave runs in one.
      ...(isatty(0) && isatty(1) ? { tty: true } : {}),
    });
    exitCode = r.exitCode;
    if (options.json) {
      const { exitCode: code, signal, reason, message } = r;
      const durationMs = Math.round(r.durationMs * 10) / 10;
      writeStderr(`${JSON.stringify({ exitCode: code, signal, reason, durationMs, ...(message ? { message } : {}) })}\n`);
    } else if (r.message && r.reason !== "exit") {
      writeStderr(`cave: ${r.message}\n`);
    }
  } finally {
    boxes.close();
  }
  process.exit(exitCode);
}
