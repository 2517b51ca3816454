// Persistent sandboxes: start an init that holds the namespaces and outlives the CLI, find it
// again by pid and start time, and stop it. The isolation is `cave run`'s (buildPlan); what
// differs is that init runs no command, has no parent-death signal, and becomes cave-init
// (ffi/init.c). Commands come later through setns (exec.ts).
import { readFileSync } from "node:fs";
import { initBinaryFd, loadNative, MSG, nativeSpawn, SPAWN_FLAGS } from "../../ffi/helper.ts";
import * as libc from "../../ffi/libc.ts";
import { CaveError } from "../core/errors.ts";
import { boxCgroupManager, detectCgroups, probeCgroups, type CgroupManager, type Limits } from "./cgroups/index.ts";
import { attachLoop, waitDetached } from "./disk.ts";
import { buildPlan, DEFAULT_PATH, type SandboxSpec } from "./plan.ts";
import { ensureReaped, hostFacts, Messages, SLICE_MS, stepName } from "./run.ts";

/** Identifies a running init across processes: pids are reused, start times are not. */
export interface InitHandle {
  pid: number;
  /** Field 22 of /proc/PID/stat (clock ticks since boot), as text. */
  startTime: string;
}

/** The start time of pid, or null when there is no such (live, non-zombie) process. */
export function processStartTime(pid: number): string | null {
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  } catch {
    return null;
  }
  // The command name (field 2) may hold spaces and parentheses: fields restart after the last ')'.
  const rest = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  if (rest[0] === "Z" || rest[0] === "X") return null;
  return rest[19] ?? null;
}

export function isAlive(h: InitHandle): boolean {
  return processStartTime(h.pid) === h.startTime;
}

/** A pidfd for the init of `h`, checked against its start time after opening (so a reused
 *  pid is never signalled or joined); null when that init is gone. */
export function openInit(h: InitHandle): number | null {
  let fd: number;
  try {
    fd = libc.pidfdOpen(h.pid);
  } catch (e) {
    if (e instanceof libc.SysError && e.errno === 3) return null;
    throw e;
  }
  if (processStartTime(h.pid) !== h.startTime) {
    libc.close(fd);
    return null;
  }
  return fd;
}

/** Reaps init if it exited as this process's child (a server that started it): no zombies. */
export function reapIfChild(pid: number): void {
  let fd: number;
  try {
    fd = libc.pidfdOpen(pid);
  } catch {
    return;
  }
  try {
    libc.waitPidfd(fd, true);
  } catch {
    // ECHILD: not ours (init(1) or a subreaper reaps it)
  } finally {
    libc.close(fd);
  }
}

export interface StartOptions {
  /** The sandbox's key (the lifecycle makes it unique per data directory): its cgroup is `box-<key>`. */
  id: string;
  limits: Limits;
  /** The ext4 image holding the writable layer (disk.ts). */
  image: string;
  /** Setup may take this long before the half-built sandbox is killed. */
  setupTimeoutMs?: number;
  /** Filled with each setup phase's end, [name, performance.now()] (the server's spans). */
  phases?: [string, number][];
}

/** Starts the sandbox's init; resolves once cave-init holds the namespaces. Fails closed:
 *  on any error the half-built sandbox is killed and its cgroup removed. */
export async function startPersistent(spec: SandboxSpec, opts: StartOptions): Promise<InitHandle> {
  if ((process.getuid?.() ?? 0) !== 0) {
    throw new CaveError("SANDBOX_UNSUPPORTED", "persistent sandboxes need root for now (loop devices, and joining namespaces owned by root)", {
      hint: "run cave as root, or use cave run",
    });
  }
  // The leftover cgroup of a lost start goes first: killing what is in it releases the image.
  const cgroup = prepareBoxCgroup(opts.id, opts.limits);
  opts.phases?.push(["cgroup prepared", performance.now()]);
  let loop: ReturnType<typeof attachLoop> | null = null;
  try {
    await waitDetached(opts.image, 5_000);
    loop = attachLoop(opts.image);
    opts.phases?.push(["disk attached", performance.now()]);
    const full: SandboxSpec = { ...spec, persistent: { device: loop.device } };
    const plan = buildPlan(full, hostFacts(full));
    opts.phases?.push(["plan built", performance.now()]);
    const init = await spawnDetached(plan, cgroup, opts.setupTimeoutMs ?? 30_000);
    opts.phases?.push(["init started", performance.now()]);
    return init;
  } catch (e) {
    cgroup?.destroy();
    throw e;
  } finally {
    // The mount holds the device now (or setup failed); autoclear detaches it after umount.
    if (loop) libc.close(loop.fd);
  }
}

function prepareBoxCgroup(id: string, limits: Limits): CgroupManager | null {
  const probe = probeCgroups();
  const cgroup = boxCgroupManager(id, undefined, probe);
  if (!cgroup) {
    // cave run falls back to rlimits here; a persistent sandbox's commands come from many
    // processes over time, which rlimits cannot bound together: refuse rather than run unbounded.
    const bounded = [limits.memoryBytes, limits.cpus, limits.pids].some((x) => x !== Number.POSITIVE_INFINITY);
    if (!bounded) return null;
    throw new CaveError("SANDBOX_CGROUP", `a persistent sandbox needs cgroups for its limits: ${detectCgroups(undefined, probe).reason ?? "none usable"}`, {
      hint: "run on a host with cgroups (v2, or v1 with memory, cpu and pids), or create the sandbox with --memory none --cpus none --pids none",
    });
  }
  // A cgroup left by a sandbox that was lost (its init killed from outside) goes first.
  cgroup.destroy();
  cgroup.create(limits);
  return cgroup;
}

async function spawnDetached(plan: ReturnType<typeof buildPlan>, cgroup: CgroupManager | null, timeoutMs: number): Promise<InitHandle> {
  let initFd: number;
  try {
    initFd = await initBinaryFd();
  } catch (e) {
    throw new CaveError("SANDBOX_START", `cannot load cave-init into a memfd: ${e instanceof Error ? e.message : String(e)}`, {
      hint: "the kernel may forbid executable memfds (sysctl vm.memfd_noexec = 2); cave needs it at 0 or 1",
      cause: e,
    });
  }
  const [statusR, statusW] = libc.socketPair();
  const [syncR, syncW] = libc.pipe();
  try {
    const cgroupFd = cgroup?.version === 2 && cgroup.v2DirFd ? cgroup.v2DirFd() : -1;
    await loadNative();
    const spawned = nativeSpawn({
      cloneFlags: plan.cloneFlags,
      cgroupFd,
      statusFd: statusW,
      syncFd: syncR,
      ops: plan.ops.map((o) => o.op),
      keepFds: [statusW, syncR, initFd],
      argv: [],
      env: [],
      path: DEFAULT_PATH,
      workdir: "/",
      keepCaps: 0n,
      seccomp: null,
      ttyFd: -1,
      flags: SPAWN_FLAGS.NEW_SESSION | SPAWN_FLAGS.DETACHED,
      initFd,
    });
    libc.close(statusW);
    libc.close(syncR);
    const { pid, pidfd } = spawned;
    if (pid < 0) throw startError(`clone the sandbox namespaces: ${libc.errnoName(-pid)} (${libc.strerror(-pid)})`);
    let ok = false;
    try {
      if (cgroup && cgroupFd < 0) cgroup.join(pid);
      const failure = await awaitStarted(plan, pid, pidfd, statusR, syncW, timeoutMs);
      if (failure) throw startError(failure);
      const startTime = processStartTime(pid);
      if (startTime === null) throw startError("init exited right after it started");
      ok = true;
      return { pid, startTime };
    } finally {
      if (!ok) ensureReaped(pidfd);
      // After MSG_STARTED init runs cave-init in its own address space: the stacks it used
      // in ours are free. On failure it has been reaped above.
      spawned.release();
      libc.close(pidfd);
    }
  } finally {
    libc.close(statusR);
    libc.close(syncW);
  }
}

/** Answers sync points until cave-init reports MSG_STARTED; returns why not, or null. */
async function awaitStarted(plan: ReturnType<typeof buildPlan>, pid: number, pidfd: number, statusR: number, syncW: number, timeoutMs: number): Promise<string | null> {
  const msgs = new Messages(statusR);
  const deadline = performance.now() + timeoutMs;
  let syncIndex = 0;
  while (performance.now() < deadline) {
    const [statusEv = 0, childEv = 0] = libc.poll([[statusR, libc.POLLIN], [pidfd, libc.POLLIN]], SLICE_MS);
    if (statusEv) {
      const batch = msgs.next();
      if (batch === null) return childEv || !processStartTime(pid) ? "init exited during setup" : "init closed its status socket without starting";
      for (const m of batch) {
        if (m.type === MSG.SYNC) {
          const action = plan.syncs[syncIndex++];
          if (action?.kind !== "join-cgroup") return `unexpected sync point ${action?.kind ?? "(none)"} at "${stepName(plan, m.step)}"`;
          libc.writeAll(syncW, new Uint8Array([0]));
        } else if (m.type === MSG.SETUP_ERR) {
          return `setup failed at "${stepName(plan, m.step)}": ${libc.errnoName(m.err)} (${libc.strerror(m.err)})`;
        } else if (m.type === MSG.STARTED) {
          return null;
        }
      }
      continue;
    }
    if (childEv) return "init exited during setup";
    await new Promise((r) => setImmediate(r));
  }
  return `setup took longer than ${timeoutMs} ms`;
}

function startError(message: string): CaveError {
  return new CaveError("SANDBOX_START", `the sandbox did not start: ${message}`, {
    hint: "run with --debug for the cause; check the disk image and loop devices",
  });
}

/** Stops a sandbox: SIGTERM to init (which passes it to every process inside), then SIGKILL
 *  after `graceMs`; resolves once init is gone. Removes the sandbox's cgroup. */
export async function stopPersistent(init: InitHandle, id: string, graceMs: number): Promise<"stopped" | "killed" | "gone"> {
  const fd = openInit(init);
  let how: "stopped" | "killed" | "gone" = "gone";
  if (fd !== null) {
    try {
      libc.pidfdSendSignal(fd, 15);
      how = (await waitExit(fd, graceMs)) ? "stopped" : "killed";
      if (how === "killed") {
        libc.pidfdSendSignal(fd, 9);
        await waitExit(fd, 10_000);
      }
      // Reap it if it is our own child (a server or test that started it); else init(1) does.
      try {
        libc.waitPidfd(fd, true);
      } catch (e) {
        if (!(e instanceof libc.SysError && (e.errno === 10 || e.errno === 22))) throw e;
      }
    } finally {
      libc.close(fd);
    }
  }
  boxCgroupManager(id, undefined, probeCgroups())?.destroy();
  return how;
}

async function waitExit(pidfd: number, ms: number): Promise<boolean> {
  const deadline = performance.now() + ms;
  for (;;) {
    const left = deadline - performance.now();
    const [ev = 0] = libc.poll([[pidfd, libc.POLLIN]], Math.max(0, Math.min(SLICE_MS, left)));
    if (ev) return true;
    if (left <= 0) return false;
    await new Promise((r) => setImmediate(r));
  }
}

