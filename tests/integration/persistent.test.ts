// Persistent sandboxes in-process, as `cave serve` will drive them: start, exec with stdin
// fed and stdout/stderr collected, many execs at once from one process, stop and restart.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { chmodSync, existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createDiskImage } from "../../src/sandbox/disk.ts";
import { execCaptured } from "../../src/sandbox/exec.ts";
import { type InitHandle, isAlive, startPersistent, stopPersistent } from "../../src/sandbox/persistent.ts";
import type { ExecSpec, SandboxSpec } from "../../src/sandbox/plan.ts";
import { buildSeccompFilter } from "../../src/sandbox/seccomp/index.ts";

const root = process.getuid?.() === 0;
const loop = existsSync("/dev/loop-control");
const mkfs = Bun.which("mkfs.ext4", { PATH: "/usr/sbin:/sbin:/usr/bin:/bin" }) !== null;
const skip = !root || !loop || !mkfs;
const why = !root ? "needs root" : !loop ? "needs loop devices" : "needs mkfs.ext4 (e2fsprogs)";

const id = `it${process.pid}`;
const limits = { memoryBytes: 256 << 20, cpus: 1, pids: 256 };
const spec: SandboxSpec = {
  argv: [],
  env: {},
  workdir: "/",
  hostname: "box",
  rootfs: "/",
  binds: [],
  network: "none",
  diskBytes: 32 << 20,
  rlimits: [{ name: "nofile", value: 1024 }],
};
const sh = (script: string): ExecSpec => ({ argv: ["sh", "-c", script], env: {}, workdir: "/", network: "none", rlimits: spec.rlimits });

let dir: string;
let image: string;
let init: InitHandle | null = null;
const seccomp = skip ? null : buildSeccompFilter("default");

describe.skipIf(skip)(`persistent sandboxes in-process (${skip ? `skipped: ${why}` : "as root"})`, () => {
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "cave-persistent-"));
    chmodSync(dir, 0o700);
    image = join(dir, "disk.img");
    createDiskImage(image, spec.diskBytes);
    init = await startPersistent(spec, { id, limits, image });
  });
  afterAll(async () => {
    if (init) await stopPersistent(init, id, 0);
    rmSync(dir, { recursive: true, force: true });
  });

  test("exec feeds stdin and collects stdout and stderr apart, with the exit status", async () => {
    const r = await execCaptured(init as InitHandle, id, sh("tr a-z A-Z; echo to-err >&2; hostname; exit 5"), { timeoutMs: 10_000, seccomp }, { stdin: "hello\n" });
    expect([r.exitCode, r.reason, r.stdout, r.stderr]).toEqual([5, "exit", "HELLO\nbox\n", "to-err\n"]);
  });

  test("twenty execs at once from one process all finish with their own output", async () => {
    const rs = await Promise.all(Array.from({ length: 20 }, (_, i) => execCaptured(init as InitHandle, id, sh(`sleep 0.1; echo ${i}`), { timeoutMs: 10_000, seccomp })));
    expect(rs.map((r) => [r.exitCode, r.stdout])).toEqual(Array.from({ length: 20 }, (_, i) => [0, `${i}\n`]));
  });

  test("the event loop keeps running while an exec waits (a server must not stall)", async () => {
    let ticks = 0;
    const timer = setInterval(() => ticks++, 10);
    const r = await execCaptured(init as InitHandle, id, sh("sleep 0.5"), { timeoutMs: 10_000, seccomp });
    clearInterval(timer);
    expect(r.exitCode).toBe(0);
    // A loop blocked in poll(2) would tick a handful of times at most.
    expect(ticks).toBeGreaterThan(25);
  });

  test("output past the cap is dropped and reported as truncated, and the command still ends normally", async () => {
    const r = await execCaptured(init as InitHandle, id, sh("head -c 100000 /dev/zero"), { timeoutMs: 10_000, seccomp }, { maxOutputBytes: 1000 });
    expect([r.exitCode, r.stdout.length, r.truncated]).toEqual([0, 1000, true]);
  });

  test("a command that is not there is exit 127, not_found", async () => {
    const r = await execCaptured(init as InitHandle, id, { ...sh(""), argv: ["no-such-command-here"] }, { timeoutMs: 10_000, seccomp });
    expect([r.exitCode, r.reason, r.message]).toEqual([127, "not_found", "command not found: no-such-command-here"]);
  });

  test("the timeout kills the command and leaves the sandbox running", async () => {
    const r = await execCaptured(init as InitHandle, id, sh("sleep 30"), { timeoutMs: 200, seccomp });
    expect([r.exitCode, r.reason, r.signal]).toEqual([124, "timeout", "SIGKILL"]);
    expect(isAlive(init as InitHandle)).toBe(true);
  });

  test("a command that goes over the sandbox's memory limit is OOM-killed: exit 137, reason oom, and the sandbox keeps running", async () => {
    const r = await execCaptured(init as InitHandle, id, { ...sh(""), argv: ["python3", "-c", "x = b'a' * (512 << 20); print(len(x))"] }, { timeoutMs: 20_000, seccomp });
    expect([r.exitCode, r.signal, r.reason, r.stdout]).toEqual([137, "SIGKILL", "oom", ""]);
    expect(isAlive(init as InitHandle)).toBe(true);
    expect((await execCaptured(init as InitHandle, id, sh("echo still here"), { timeoutMs: 10_000, seccomp })).stdout).toBe("still here\n");
  });

  test("stop ends init within the grace period; a restart on the same image finds what was written", async () => {
    expect((await execCaptured(init as InitHandle, id, sh("echo kept > /root/file"), { timeoutMs: 10_000, seccomp })).exitCode).toBe(0);
    const old = init as InitHandle;
    expect(await stopPersistent(old, id, 5_000)).toBe("stopped");
    expect(isAlive(old)).toBe(false);
    init = await startPersistent(spec, { id, limits, image });
    const r = await execCaptured(init, id, sh("cat /root/file"), { timeoutMs: 10_000, seccomp });
    expect([r.exitCode, r.stdout]).toEqual([0, "kept\n"]);
  });

  test("an exec into a stopped sandbox fails with SANDBOX_NOT_RUNNING", async () => {
    const gone = init as InitHandle;
    await stopPersistent(gone, id, 1_000);
    init = null;
    let code = "";
    try {
      await execCaptured(gone, id, sh("true"), { timeoutMs: 1_000, seccomp });
    } catch (e) {
      code = (e as { code?: string }).code ?? String(e);
    }
    expect(code).toBe("SANDBOX_NOT_RUNNING");
  });
});
