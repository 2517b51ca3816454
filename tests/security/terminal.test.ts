// TIOCSTI injection: a sandboxed command that can push bytes into the input queue of the caller's
// terminal makes the caller's shell run them after cave exits. cave runs here under
// `script` so it has a real terminal; the shell that started it then reads whatever is queued.
import { describe, expect, test } from "bun:test";
import { CAVE } from "../helpers/cave.ts";
import { PROBES, shq, useProbes } from "./harness.ts";

const probes = useProbes("tiocsti");
const script = Bun.which("script");

/** Runs argv in bash under `script`, then has that bash print every line waiting on its terminal. */
async function inTerminal(argv: string[]): Promise<string> {
  const outer = `${argv.map(shq).join(" ")}; while read -t 0.5 -r line; do echo "outer got: $line"; done; echo "outer done"`;
  const proc = Bun.spawn([script as string, "-qec", `bash -c ${shq(outer)}`, "/dev/null"], {
    // Kept open and silent: script forwards it to the terminal, and EOF would end the reads early.
    stdin: "pipe",
    stdout: "pipe",
    stderr: "pipe",
    env: { PATH: process.env.PATH ?? "/usr/bin:/bin", TERM: "xterm", HOME: "/tmp" },
    cwd: probes.dir(),
  });
  const out = await new Response(proc.stdout).text();
  await proc.exited;
  proc.stdin.end();
  return out.replaceAll("\r\n", "\n");
}

describe("the caller's terminal", () => {
  test.skipIf(!script)(
    "the injection works outside a sandbox: the outer shell reads what the probe queued (the control; skipped without script)",
    async () => {
      const out = await inTerminal([`${probes.dir()}/tiocsti`]);
      expect(out.split("\n").filter((l) => l.startsWith("outer got: "))).toEqual([
        "outer got: echo injected-via-fd0",
        "outer got: echo injected-via-fd1",
        "outer got: echo injected-via-fd2",
        "outer got: echo injected-via-tty",
      ]);
    },
  );

  test.skipIf(!script)(
    "TIOCSTI on fds 0, 1, 2 and /dev/tty and TIOCLINUX get EPERM, and nothing reaches the outer shell (skipped without script)",
    async () => {
      const out = await inTerminal([CAVE, "run", "--bind", `${probes.dir()}:${PROBES}:ro`, "--", `${PROBES}/tiocsti`]);
      expect(out).toBe("fd0 EPERM\nfd1 EPERM\nfd2 EPERM\ntty EPERM\ntioclinux EPERM\nouter done\n");
    },
  );

  test.skipIf(!script)(
    "with --seccomp none the injection succeeds only into the sandbox's own pseudo-terminal: the outer shell still reads nothing (skipped without script)",
    async () => {
      const out = await inTerminal([
        CAVE,
        "run",
        "--seccomp",
        "none",
        "--bind",
        `${probes.dir()}:${PROBES}:ro`,
        "--",
        `${PROBES}/tiocsti`,
      ]);
      const lines = out.split("\n");
      // The inner terminal echoes what was pushed into it; cave relays that as output, not input.
      expect(lines.filter((l) => /^(fd\d|tty|outer)/.test(l))).toEqual([
        "fd0 ok",
        "fd1 ok",
        "fd2 ok",
        "tty ok",
        "outer done",
      ]);
    },
  );
});
