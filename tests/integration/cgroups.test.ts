// The cgroup manager this host's detection picks, on its real cgroups: limits land in the files,
// processes join, OOM, pids and CPU limits bite, kill and destroy leave nothing behind.
import { afterAll, afterEach, expect, test } from "bun:test";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import type { Subprocess } from "bun";
import { cleanupStale, createCgroupManager, detectCgroups } from "../../src/sandbox/cgroups/index.ts";
import type { CgroupManager, Limits } from "../../src/sandbox/cgroups/types.ts";
import { CgroupV1 } from "../../src/sandbox/cgroups/v1.ts";
import type { CgroupV2 } from "../../src/sandbox/cgroups/v2.ts";

const MiB = 1024 * 1024;
const LIMITS: Limits = { memoryBytes: 64 * MiB, cpus: 1.5, pids: 20 };

const detected = detectCgroups();
const skipReason =
  process.getuid?.() !== 0 ? "creating cgroups needs root (CI runs as root)" : detected.version === null ? `no usable cgroups here: ${detected.reason}` : null;
const python = Bun.which("python3");
const pythonExe = python ? Bun.spawnSync([python, "-c", "import sys; print(sys.executable)"]).stdout.toString().trim() : null;

/** A test that needs real cgroups; when skipped, its name carries the reason. */
function cgroupTest(name: string, fn: () => Promise<void> | void, extraSkip: string | null = null): void {
  const why = skipReason ?? extraSkip;
  test.skipIf(why !== null)(why === null ? name : `${name} (skipped: ${why})`, fn);
}

let seq = 0;
const managers: CgroupManager[] = [];
const procs: Subprocess[] = [];
const everyDir = new Set<string>();

function manager(limits: Limits): CgroupV1 | CgroupV2 {
  const m = createCgroupManager(`itest${++seq}`) as CgroupV1 | CgroupV2 | null;
  if (m === null) throw new Error(`detectCgroups said ${detected.version} but createCgroupManager gave null`);
  managers.push(m);
  m.create(limits);
  for (const d of m.existingDirs()) everyDir.add(d);
  return m;
}

/** A shell that waits for a line on stdin before running script, so it can join first. */
function gated(script: string, args: string[] = []): Subprocess<"pipe", "pipe", "pipe"> {
  const p = Bun.spawn(["/bin/sh", "-c", `read go; ${script}`, ...args], { stdin: "pipe", stdout: "pipe", stderr: "pipe" });
  procs.push(p);
  return p;
}

function release(p: Subprocess<"pipe", "pipe", "pipe">): void {
  p.stdin.write("go\n");
  p.stdin.end();
}

function read(path: string): string {
  return readFileSync(path, "utf8").trim();
}

/** The directory with the pids, memory and cpu accounting files of the manager's cgroup. */
function dirFor(m: CgroupV1 | CgroupV2, ctrl: "memory" | "cpu" | "cpuacct" | "pids"): string {
  return m instanceof CgroupV1 ? m.dirOf(ctrl) : m.path();
}

afterEach(() => {
  for (const p of procs.splice(0)) p.kill("SIGKILL");
  for (const m of managers.splice(0)) m.destroy();
});

afterAll(() => {
  expect([...everyDir].filter((d) => existsSync(d))).toEqual([]);
});

cgroupTest("create writes each limit, a joined process shows the cave cgroup, killAll kills it, destroy removes every directory", async () => {
  const m = manager(LIMITS);
  if (m instanceof CgroupV1) {
    const mem = m.dirOf("memory");
    const written = {
      memory: read(`${mem}/memory.limit_in_bytes`),
      memsw: existsSync(`${mem}/memory.memsw.limit_in_bytes`) ? read(`${mem}/memory.memsw.limit_in_bytes`) : "absent",
      period: read(`${m.dirOf("cpu")}/cpu.cfs_period_us`),
      quota: read(`${m.dirOf("cpu")}/cpu.cfs_quota_us`),
      pids: read(`${m.dirOf("pids")}/pids.max`),
    };
    const memsw = written.memsw === "absent" ? "absent" : "67108864";
    expect(written).toEqual({ memory: "67108864", memsw, period: "100000", quota: "150000", pids: "20" });
  } else {
    const dir = m.path();
    const swap = existsSync(`${dir}/memory.swap.max`) ? read(`${dir}/memory.swap.max`) : "absent";
    expect({ memory: read(`${dir}/memory.max`), swap, cpu: read(`${dir}/cpu.max`), pids: read(`${dir}/pids.max`) }).toEqual({
      memory: "67108864",
      swap: swap === "absent" ? "absent" : "0",
      cpu: "150000 100000",
      pids: "20",
    });
  }

  const p = Bun.spawn(["/bin/sh", "-c", "sleep 30"], { stdout: "ignore", stderr: "ignore" });
  procs.push(p);
  m.join(p.pid);
  const lines = read(`/proc/${p.pid}/cgroup`).split("\n");
  const where = (ctrl: string) => lines.map((l) => l.split(":")).find(([, ctrls]) => (ctrls ?? "").split(",").includes(ctrl))?.[2];
  const expected = `/cave/${m.name}`;
  if (m instanceof CgroupV1) {
    expect({ memory: where("memory"), cpu: where("cpu"), pids: where("pids") }).toEqual({ memory: expected, cpu: expected, pids: expected });
  } else {
    expect(lines.find((l) => l.startsWith("0::"))).toBe(`0::${expected}`);
  }
  expect(read(`${dirFor(m, "pids")}/cgroup.procs`)).toBe(String(p.pid));

  m.killAll();
  expect(await p.exited).toBe(137);
  expect(p.signalCode).toBe("SIGKILL");
  expect(m.oomKilled()).toBe(false);

  const dirs = m.existingDirs();
  expect(dirs.length).toBeGreaterThan(0);
  m.destroy();
  expect(dirs.filter((d) => existsSync(d))).toEqual([]);
  m.destroy();
});

cgroupTest(
  "a process allocating 300 MiB under a 64 MiB limit is OOM-killed with SIGKILL and oomKilled() says so",
  async () => {
    const m = manager({ memoryBytes: 64 * MiB, cpus: 1, pids: 20 });
    const p = gated(`exec "$0" -c "b = b'x' * (300 * 1024 * 1024)"`, [pythonExe ?? "python3"]);
    m.join(p.pid);
    release(p);
    expect(await p.exited).toBe(137);
    expect(p.signalCode).toBe("SIGKILL");
    expect(m.oomKilled()).toBe(true);
  },
  pythonExe ? null : "python3 is not installed",
);

cgroupTest("with pids.max 20 a shell starting 100 background sleeps gets 19 of them, then fork fails", async () => {
  const m = manager({ ...LIMITS, pids: 20 });
  const p = gated("i=0; while [ $i -lt 100 ]; do sleep 30 </dev/null >/dev/null 2>&1 & i=$((i+1)); done; wait");
  m.join(p.pid);
  release(p);
  // dash exits with 2 at the first failed fork; the 19 sleeps started before it stay behind.
  expect(await p.exited).toBe(2);
  expect(await new Response(p.stderr).text()).toMatch(/^\/bin\/sh: \d+: Cannot fork\n$/);
  const dir = dirFor(m, "pids");
  expect(read(`${dir}/cgroup.procs`).split("\n").length).toBe(19);
  expect(read(`${dir}/pids.events`).split("\n")[0]).toBe("max 1");
});

cgroupTest("a busy loop for 1 s under cpus=0.2 gets well under 0.5 s of CPU and is throttled", async () => {
  const m = manager({ ...LIMITS, cpus: 0.2 });
  const p = gated("exec timeout 1 sh -c 'while :; do :; done'");
  m.join(p.pid);
  release(p);
  expect(await p.exited).toBe(124);
  const usageSeconds =
    m instanceof CgroupV1
      ? Number(read(`${m.dirOf("cpuacct")}/cpuacct.usage`)) / 1e9
      : Number(/^usage_usec (\d+)$/m.exec(read(`${m.path()}/cpu.stat`))?.[1]) / 1e6;
  expect(usageSeconds).toBeGreaterThan(0.05);
  expect(usageSeconds).toBeLessThan(0.5);
  const throttled = Number(/^nr_throttled (\d+)$/m.exec(read(`${dirFor(m, "cpu")}/cpu.stat`))?.[1]);
  expect(throttled).toBeGreaterThan(0);
});

cgroupTest("cleanupStale kills and removes a cgroup whose owner pid is gone, and keeps a live run's empty cgroup", async () => {
  const live = manager(LIMITS);
  const dead = Bun.spawn(["/bin/true"]);
  await dead.exited;
  // The same layout a crashed cave would leave, in every hierarchy, named after a dead owner.
  const staleDirs = live.existingDirs().map((d) => d.replace(`/cave-${process.pid}-`, `/cave-${dead.pid}-`));
  for (const d of staleDirs) {
    mkdirSync(d);
    everyDir.add(d);
  }
  const orphan = Bun.spawn(["/bin/sh", "-c", "sleep 30"], { stdout: "ignore", stderr: "ignore" });
  procs.push(orphan);
  for (const d of staleDirs) writeFileSync(`${d}/cgroup.procs`, String(orphan.pid));

  const removed = cleanupStale();
  expect(removed.filter((d) => d.includes(`/cave-${dead.pid}-`))).toEqual(staleDirs);
  expect(await orphan.exited).toBe(137);
  expect(staleDirs.filter((d) => existsSync(d))).toEqual([]);
  expect(live.existingDirs().filter((d) => existsSync(d)).length).toBeGreaterThan(0);
  expect(removed.filter((d) => d.includes(`/${live.name}`))).toEqual([]);
});
