// Shared by the security suite: builds the C probes of tests/security/probes with gcc into a
// temp dir per test file, binds that dir read-only at /probes, and runs them under the compiled
// `cave run`. Probes print "<attempt> <result>" lines; `results` turns those into a map.
import { afterAll, beforeAll } from "bun:test";
import { chmodSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { cave, type CaveOptions, type CaveRun } from "../helpers/cave.ts";

export const PROBE_SOURCES = join(import.meta.dir, "probes");
/** Where the probe directory appears inside the sandbox. */
export const PROBES = "/probes";

/** Compiles the named probes (probes/<name>.c) into a fresh world-readable temp dir. */
export function buildProbes(names: readonly string[]): string {
  const gcc = Bun.which("gcc");
  if (!gcc) throw new Error("the security suite needs gcc to build its probes: apt-get install gcc");
  const dir = mkdtempSync(join(tmpdir(), "cave-security-probes-"));
  // Root inside the sandbox is nobody outside: the bound directory must be world-readable.
  chmodSync(dir, 0o755);
  for (const name of names) {
    const out = Bun.spawnSync(
      [gcc, "-O1", "-Wall", "-Wextra", "-o", join(dir, name), join(PROBE_SOURCES, `${name}.c`)],
      { stderr: "pipe" },
    );
    if (out.exitCode !== 0) throw new Error(`gcc could not build probes/${name}.c:\n${out.stderr.toString()}`);
    chmodSync(join(dir, name), 0o755);
  }
  return dir;
}

export interface Probes {
  /** The host directory that holds the compiled probes (valid inside tests). It is also the
   *  working directory cave runs in: it holds no cave.yaml, so only built-in defaults and the
   *  test's own flags apply, whatever the checkout's cave.yaml says. */
  dir(): string;
  /** `cave ARGS` from that directory. */
  cave(args: string[], opts?: CaveOptions): Promise<CaveRun>;
  /** `cave run --bind DIR:/probes:ro FLAGS -- ARGV` from that directory. */
  run(argv: string[], flags?: string[], opts?: CaveOptions): Promise<CaveRun>;
}

/** Builds the probes in beforeAll and removes them in afterAll of the calling test file. */
export function useProbes(...names: string[]): Probes {
  let dir: string | null = null;
  beforeAll(() => {
    dir = buildProbes(names);
  });
  afterAll(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });
  const get = () => {
    if (!dir) throw new Error("probes are built in beforeAll: use them inside a test");
    return dir;
  };
  const inDir = (args: string[], opts: CaveOptions = {}) => cave(args, { cwd: get(), ...opts });
  return {
    dir: get,
    cave: inDir,
    run: (argv, flags = [], opts = {}) =>
      inDir(["run", "--bind", `${get()}:${PROBES}:ro`, ...flags, "--", ...argv], opts),
  };
}

/** "name result…" lines → { name: "result…" }. */
export function results(stdout: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of stdout.split("\n")) {
    if (!line) continue;
    const sp = line.indexOf(" ");
    out[sp < 0 ? line : line.slice(0, sp)] = sp < 0 ? "" : line.slice(sp + 1);
  }
  return out;
}

/** { name: answer } for each name: the expected side of an assertion. */
export function each(names: readonly string[], answer: string): Record<string, string> {
  return Object.fromEntries(names.map((n) => [n, answer]));
}

export interface Outcome {
  exitCode: number;
  stderr: string;
  results: Record<string, string>;
}

/** A run as one value to assert whole: exit code, stderr and the probe's result lines. */
export function outcome(r: CaveRun): Outcome {
  return { exitCode: r.exitCode, stderr: r.stderr, results: results(r.stdout) };
}

/** What a probe run that went normally looks like: exit 0, nothing on stderr, these results. */
export function clean(expected: Record<string, string>): Outcome {
  return { exitCode: 0, stderr: "", results: expected };
}

/** Quotes one word for sh. */
export function shq(word: string): string {
  return `'${word.replaceAll("'", `'\\''`)}'`;
}

/** A fresh temp dir, world-readable so the sandbox's root (nobody outside) can enter it. */
export function tempDir(prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), `cave-security-${prefix}-`));
  chmodSync(dir, 0o755);
  return dir;
}
