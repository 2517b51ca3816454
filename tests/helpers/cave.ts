// Runs the compiled cave binary (built by `make build`) and collects what it printed.
import { existsSync } from "node:fs";
import { resolve } from "node:path";

export const CAVE = resolve(import.meta.dir, "../../dist/cave");
if (!existsSync(CAVE)) throw new Error(`${CAVE} is missing: run \`make build\` (make test does it)`);

export interface CaveRun {
  exitCode: number;
  stdout: string;
  stderr: string;
}

export interface CaveOptions {
  env?: Record<string, string>;
  stdin?: string;
  cwd?: string;
  /** Run cave itself as this uid/gid (rootless tests), through setpriv. */
  asUser?: { uid: number; gid: number };
  binary?: string;
}

export function caveArgv(args: string[], opts: CaveOptions = {}): string[] {
  const bin = opts.binary ?? CAVE;
  if (!opts.asUser) return [bin, ...args];
  const { uid, gid } = opts.asUser;
  return ["setpriv", `--reuid=${uid}`, `--regid=${gid}`, "--clear-groups", bin, ...args];
}

export async function cave(args: string[], opts: CaveOptions = {}): Promise<CaveRun> {
  const proc = Bun.spawn(caveArgv(args, opts), {
    stdin: opts.stdin !== undefined ? new Blob([opts.stdin]) : "ignore",
    stdout: "pipe",
    stderr: "pipe",
    cwd: opts.cwd,
    env: { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: "/tmp", ...opts.env },
  });
  const [stdout, stderr, exitCode] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  return { exitCode, stdout, stderr };
}

/** The last stderr line of `cave run --json`: the machine-readable result. */
export function jsonResult(r: CaveRun): { exitCode: number; signal: string | null; reason: string; durationMs: number; message?: string } {
  const lines = r.stderr.trim().split("\n");
  return JSON.parse(lines[lines.length - 1] ?? "{}");
}

/** A unique marker so leftover checks find only this test's processes. */
export function marker(): string {
  return `cave-test-${process.pid}-${Math.random().toString(36).slice(2, 10)}`;
}

/** Host pids whose command line contains `needle`. */
export async function hostPidsWith(needle: string): Promise<number[]> {
  const out: number[] = [];
  for (const name of await Array.fromAsync(new Bun.Glob("[0-9]*").scan({ cwd: "/proc", onlyFiles: false }))) {
    try {
      const cmd = await Bun.file(`/proc/${name}/cmdline`).text();
      if (cmd.includes(needle) && Number(name) !== process.pid) out.push(Number(name));
    } catch {
      // the process exited while we looked: not a leftover
    }
  }
  return out;
}
