// Denial of service against the host: a fork bomb, memory and disk exhaustion, floods of output
// and commands that never end. Each must stop at its limit inside the sandbox, leave the host
// usable while it runs, and leave nothing behind once cave has returned.
import { describe, expect, test } from "bun:test";
import { statfsSync } from "node:fs";
import { tmpdir } from "node:os";
import { CAVE, hostPidsWith, jsonResult, marker } from "../helpers/cave.ts";
import { PROBES, useProbes } from "./harness.ts";

const probes = useProbes("forkbomb", "memhog", "diskfill");
const MiB = 1024 * 1024;

/** Reads a stream until `done(text)` holds and returns the text so far; the rest stays unread. */
async function readUntil(stream: ReadableStream<Uint8Array>, done: (text: string) => boolean): Promise<string> {
  const reader = stream.getReader();
  let text = "";
  while (!done(text)) {
    const { value, done: eof } = await reader.read();
    if (eof) break;
    text += new TextDecoder().decode(value);
  }
  reader.releaseLock();
  return text;
}

/** `cave ARGS` with stdout and stderr piped, from the probe dir (no cave.yaml: built-in defaults). */
function spawnCave(args: string[]) {
  return Bun.spawn([CAVE, ...args], { cwd: probes.dir(), stdout: "pipe", stderr: "pipe" });
}

/** Counts the bytes of a stream without keeping them. */
async function countBytes(stream: ReadableStream<Uint8Array>): Promise<number> {
  let n = 0;
  for await (const chunk of stream) n += chunk.byteLength;
  return n;
}

describe("processes", () => {
  test("a fork bomb stops at --pids 64 with EAGAIN, the host still starts a process within 1 s, and nothing is left after the timeout", async () => {
    const name = marker();
    const proc = spawnCave([
      "run",
      "--pids",
      "64",
      "--timeout",
      "2s",
      "--json",
      "--bind",
      `${probes.dir()}:${PROBES}:ro`,
      "--",
      `${PROBES}/forkbomb`,
      name,
    ]);
    const text = await readUntil(proc.stdout, (t) => t.includes("procs "));
    // The bomb is still running (it never stops forking): the host must stay usable meanwhile.
    const t0 = performance.now();
    const hostTrue = Bun.spawnSync(["true"]);
    const hostMs = performance.now() - t0;
    expect(text).toBe("fork EAGAIN\nprocs 64\n");
    expect({ exitCode: hostTrue.exitCode, fast: hostMs < 1000 }).toEqual({ exitCode: 0, fast: true });
    expect(await proc.exited).toBe(124);
    expect(jsonResult({ exitCode: 124, stdout: "", stderr: await new Response(proc.stderr).text() })).toMatchObject({
      exitCode: 124,
      reason: "timeout",
      signal: "SIGKILL",
    });
    expect(await hostPidsWith(name)).toEqual([]);
  }, 20_000);
});

describe("memory", () => {
  test("a command that allocates without end is OOM-killed at --memory 64M: exit 137, reason oom", async () => {
    const r = await probes.run([`${PROBES}/memhog`], ["--memory", "64M", "--json"]);
    expect({ exitCode: r.exitCode, stdout: r.stdout }).toEqual({ exitCode: 137, stdout: "" });
    expect(jsonResult(r)).toMatchObject({ exitCode: 137, signal: "SIGKILL", reason: "oom" });
  });
});

describe("disk", () => {
  test("filling the disk stops at --disk 32M with ENOSPC everywhere writable, and the host's free space does not move", async () => {
    const hostFree = () => [statfsSync("/"), statfsSync(tmpdir())].map((s) => s.bavail * s.bsize);
    const before = hostFree();
    const r = await probes.run(
      [`${PROBES}/diskfill`, "/fill", "/tmp/more", "/root/more", "/dev/shm/more", "/etc/more"],
      ["--disk", "32M"],
    );
    const after = hostFree();
    expect({ exitCode: r.exitCode, stderr: r.stderr }).toEqual({ exitCode: 0, stderr: "" });
    const [filled, ...rest] = r.stdout.trim().split("\n");
    // 32 MiB less what the tmpfs keeps for the overlay's own directories: 31 or 32 whole MiB.
    expect(filled).toMatch(/^filled \/fill 3[12] ENOSPC$/);
    expect(rest).toEqual(["/tmp/more ENOSPC", "/root/more ENOSPC", "/dev/shm/more ENOSPC", "/etc/more ENOSPC"]);
    // Other jobs may write meanwhile: allow them 16 MiB, half of what the sandbox wrote.
    expect(before.map((b, i) => Math.abs(b - (after[i] as number)) < 16 * MiB)).toEqual([true, true]);
  });
});

describe("output", () => {
  test("200 MiB on stdout passes through completely and cave exits 0", async () => {
    const proc = spawnCave(["run", "--", "sh", "-c", "yes | head -c 200M"]);
    const [bytes, stderr, exitCode] = await Promise.all([
      countBytes(proc.stdout),
      new Response(proc.stderr).text(),
      proc.exited,
    ]);
    expect({ bytes, stderr, exitCode }).toEqual({ bytes: 200 * MiB, stderr: "", exitCode: 0 });
  }, 30_000);

  test("200 MiB on stderr passes through completely and cave exits 0", async () => {
    const proc = spawnCave(["run", "--", "sh", "-c", "yes | head -c 200M >&2"]);
    const [stdout, bytes, exitCode] = await Promise.all([
      new Response(proc.stdout).text(),
      countBytes(proc.stderr),
      proc.exited,
    ]);
    expect({ stdout, bytes, exitCode }).toEqual({ stdout: "", bytes: 200 * MiB, exitCode: 0 });
  }, 30_000);

  test("a command blocked on a stdout nobody reads is still killed at the timeout: exit 124", async () => {
    const name = marker();
    // stdout is a pipe the test never reads: `yes` fills it and blocks in write().
    const proc = spawnCave(["run", "--timeout", "1s", "--json", "--", "sh", "-c", `yes ${name}`]);
    const [stderr, exitCode] = await Promise.all([new Response(proc.stderr).text(), proc.exited]);
    expect(exitCode).toBe(124);
    expect(jsonResult({ exitCode, stdout: "", stderr })).toMatchObject({
      exitCode: 124,
      reason: "timeout",
      signal: "SIGKILL",
    });
    expect(await hostPidsWith(name)).toEqual([]);
  }, 10_000);
});

describe("time", () => {
  // Every process of each script carries the marker in its command line, for the leftover check.
  for (const [what, script] of [
    ["a sleeping command", (m: string) => `sleep 600; : ${m}`],
    [
      "a busy loop that ignores SIGTERM, SIGINT and SIGHUP",
      (m: string) => `trap '' TERM INT HUP; while :; do :; done; : ${m}`,
    ],
    [
      "a command whose children went into the background",
      (m: string) => `sh -c 'sleep 600; : ${m}' & sh -c 'while :; do :; done; : ${m}' & wait; : ${m}`,
    ],
  ] as const) {
    test(`${what} is killed at --timeout 500ms: exit 124 within 5 s, nothing left behind`, async () => {
      const name = marker();
      const t0 = performance.now();
      const proc = spawnCave(["run", "--timeout", "500ms", "--json", "--", "sh", "-c", script(name)]);
      const [stderr, exitCode] = await Promise.all([new Response(proc.stderr).text(), proc.exited]);
      expect({ exitCode, inTime: performance.now() - t0 < 5000 }).toEqual({ exitCode: 124, inTime: true });
      expect(jsonResult({ exitCode, stdout: "", stderr })).toMatchObject({
        exitCode: 124,
        reason: "timeout",
        signal: "SIGKILL",
        message: "timed out after 500ms; the sandbox was killed",
      });
      expect(await hostPidsWith(name)).toEqual([]);
    });
  }
});
