// Runs one command in a fresh sandbox: plan → clone via the helper → answer the child's
// sync points → wait with a pidfd for exit, timeout or interruption → a RunResult.
import { existsSync, readdirSync, readlinkSync, statSync } from "../../ffi/fs.ts";
import { loadNative, nativeSpawn, MSG, MSG_SIZE, FIXED_STEPS, SPAWN_FLAGS } from "../../ffi/helper.ts";
import * as libc from "../../ffi/libc.ts";
import { buildPlan, sandboxEnv, DEFAULT_PATH, PROC_MASKED_DIRS, PROC_MASKED_FILES, PROC_READONLY, type HostFacts, type Plan, type SandboxSpec } from "./plan.ts";
import { CaveError, isCaveError } from "../core/errors.ts";
import { formatSize } from "../core/units.ts";
import { cleanupStale, createCgroupManager, detectCgroups, probeCgroups, type CgroupManager, type Limits } from "./cgroups/index.ts";
import { PtyRelay } from "./tty.ts";
import { mark } from "../core/trace.ts";
import { normalJitPolicy } from "../core/jit.ts";
import type { RunResult } from "../../schema/result.ts";

// The shape lives in schema/result.ts (valibot), shared with --json and the API.
export type { RunReason, RunResult } from "../../schema/result.ts";

export interface RunOptions {
  timeoutMs: number;
  /** cgroup limits; without cgroups (rootless, no delegation) they fall back to rlimits. */
  limits?: Limits;
  /** Called with the pid of the sandbox's init once it exists. */
  onSpawned?: (pid: number) => void;
  /** A compiled seccomp BPF program (struct sock_filter[]), loaded last before execve. */
  seccomp?: Uint8Array | null;
  /** Capabilities the command keeps (bit n = capability n); none by default. */
  keepCaps?: bigint;
  /** Something the user should know (a weaker setting, a fallback); said once per run. */
  onWarning?: (message: string) => void;
  /**
   * Filled with each setup phase's end, [name, performance.now()], for the server's spans.
   * Per run, unlike src/core/trace.ts's process-wide marks (--debug), which stay as they are.
   */
  phases?: [string, number][];
}

/** Exit codes cave itself uses; the command's own codes pass through. */
export const EXIT = {
  TIMEOUT: 124,
  SETUP: 125,
  NOT_EXECUTABLE: 126,
  NOT_FOUND: 127,
} as const;

const SIGNALS = [
  "",
  "SIGHUP",
  "SIGINT",
  "SIGQUIT",
  "SIGILL",
  "SIGTRAP",
  "SIGABRT",
  "SIGBUS",
  "SIGFPE",
  "SIGKILL",
  "SIGUSR1",
  "SIGSEGV",
  "SIGUSR2",
  "SIGPIPE",
  "SIGALRM",
  "SIGTERM",
  "SIGSTKFLT",
  "SIGCHLD",
  "SIGCONT",
  "SIGSTOP",
  "SIGTSTP",
  "SIGTTIN",
  "SIGTTOU",
  "SIGURG",
  "SIGXCPU",
  "SIGXFSZ",
  "SIGVTALRM",
  "SIGPROF",
  "SIGWINCH",
  "SIGIO",
  "SIGPWR",
  "SIGSYS",
];
export function signalName(n: number): string {
  return SIGNALS[n] ?? `SIG${n}`;
}

export function hostFacts(spec: SandboxSpec): HostFacts {
  const uid = process.getuid?.() ?? 0;
  const gid = process.getgid?.() ?? 0;
  const rootEntries: HostFacts["rootEntries"] = [];
  if (uid !== 0) {
    for (const d of readdirSync(spec.rootfs, { withFileTypes: true })) {
      if (d.isSymbolicLink())
        rootEntries.push({
          name: d.name,
          type: "symlink",
          target: readlinkSync(`${spec.rootfs}/${d.name}`),
        });
      else if (d.isDirectory()) rootEntries.push({ name: d.name, type: "dir" });
      else if (d.isFile()) rootEntries.push({ name: d.name, type: "file" });
    }
  }
  const bindIsDir = spec.binds.map((b) => {
    try {
      return statSync(b.src).isDirectory();
    } catch (e) {
      throw new CaveError("USAGE", `bind source ${b.src} does not exist or cannot be read`, {
        hint: "give an existing host path: --bind SRC:DST[:ro]",
        cause: e,
      });
    }
  });
  const procPaths = new Set([...PROC_MASKED_FILES, ...PROC_MASKED_DIRS, ...PROC_READONLY].filter((p) => existsSync(`/proc/${p}`)));
  return { uid, gid, rootEntries, bindIsDir, procPaths };
}

export interface Msg {
  type: number;
  step: number;
  err: number;
  val: number;
  fd?: number;
}

/** Reads cave_msg records off the status socket; a record split across reads is kept. */
export class Messages {
  private buf = new Uint8Array(MSG_SIZE * 64);
  private rest = new Uint8Array(0);
  constructor(private fd: number) {}
  /** Reads what is there (blocking if nothing); null at EOF. */
  next(): Msg[] | null {
    const { n, fds } = libc.recvWithFds(this.fd, this.buf);
    if (n === 0) return null;
    const data = new Uint8Array(this.rest.byteLength + n);
    data.set(this.rest);
    data.set(this.buf.subarray(0, n), this.rest.byteLength);
    const out: Msg[] = [];
    const view = new DataView(data.buffer);
    let o = 0;
    for (; o + MSG_SIZE <= data.byteLength; o += MSG_SIZE) {
      const m: Msg = {
        type: view.getInt32(o, true),
        step: view.getInt32(o + 4, true),
        err: view.getInt32(o + 8, true),
        val: view.getInt32(o + 12, true),
      };
      if (m.type === MSG.PTY) m.fd = fds.shift();
      out.push(m);
    }
    for (const stray of fds) libc.close(stray);
    this.rest = data.slice(o);
    return out;
  }
}

export function stepName(plan: Plan, step: number): string {
  return step >= 0 ? (plan.ops[step]?.step ?? `step ${step}`) : (FIXED_STEPS[step] ?? `step ${step}`);
}

export function setupFailure(plan: Plan, step: number, err: number, t0: number, detail?: string): RunResult {
  return {
    exitCode: EXIT.SETUP,
    signal: null,
    reason: "setup_failed",
    durationMs: performance.now() - t0,
    message: `sandbox setup failed at "${stepName(plan, step)}": ${detail ?? `${libc.errnoName(err)} (${libc.strerror(err)})`}`,
  };
}

export const SLICE_MS = 50;
const INTERRUPTS = ["SIGINT", "SIGTERM", "SIGHUP"] as const;

export async function runSandbox(spec: SandboxSpec, opts: RunOptions): Promise<RunResult> {
  const t0 = performance.now();
  const cgroup = opts.limits ? prepareCgroup(opts.limits, spec, opts.onWarning) : null;
  try {
    mark("cgroup prepared");
    opts.phases?.push(["cgroup prepared", performance.now()]);
    const plan = buildPlan(spec, hostFacts(spec));
    mark("plan built");
    opts.phases?.push(["plan built", performance.now()]);
    const result = await spawnAndSupervise(plan, spec, opts, cgroup, t0);
    // The OOM killer may take the command or init; either way the cgroup knows.
    if (cgroup?.oomKilled() && (result.signal === "SIGKILL" || result.reason === "signal")) {
      return {
        ...result,
        exitCode: 137,
        signal: "SIGKILL",
        reason: "oom",
        message: `out of memory: the sandbox went over its ${formatSize(opts.limits?.memoryBytes ?? 0)} memory limit and was killed`,
      };
    }
    return result;
  } finally {
    cgroup?.destroy();
  }
}

/** 12 hex digits; Web Crypto, because node:crypto costs ~3 ms of start-up to load. */
function randomId(): string {
  return Array.from(crypto.getRandomValues(new Uint8Array(6)), (b) => b.toString(16).padStart(2, "0")).join("");
}

/** A fresh cgroup with the limits, or null (then rlimits stand in, and the user is told). */
function prepareCgroup(limits: Limits, spec: SandboxSpec, warn?: (m: string) => void): CgroupManager | null {
  const bounded = [limits.memoryBytes, limits.cpus, limits.pids].filter((x) => x !== Number.POSITIVE_INFINITY);
  // With every limit lifted (`none`) there is nothing for a cgroup to hold.
  if (bounded.length === 0) return null;
  // One probe of the host serves the cleanup, the manager and the warning.
  const probe = probeCgroups();
  cleanupStale({ probe });
  const cgroup = createCgroupManager(randomId(), undefined, probe);
  if (cgroup) {
    cgroup.create(limits);
    return cgroup;
  }
  const { reason } = detectCgroups(undefined, probe);
  warn?.(
    `cgroups are not available (${reason ?? "no usable hierarchy"}): memory and pids are limited with rlimits (RLIMIT_AS, RLIMIT_NPROC) and CPU is not limited`,
  );
  if (limits.memoryBytes !== Number.POSITIVE_INFINITY) spec.rlimits.push({ name: "as", value: limits.memoryBytes });
  if (limits.pids !== Number.POSITIVE_INFINITY) spec.rlimits.push({ name: "nproc", value: limits.pids });
  return null;
}

async function spawnAndSupervise(plan: Plan, spec: SandboxSpec, opts: RunOptions, cgroup: CgroupManager | null, t0: number): Promise<RunResult> {
  // A socket, not a pipe: it also carries the terminal's master fd (SCM_RIGHTS).
  const [statusR, statusW] = libc.socketPair();
  const [syncR, syncW] = libc.pipe();
  const env = sandboxEnv(process.env, spec.env);
  let interrupted: string | null = null;
  const onSignal = (sig: string) => {
    interrupted ??= sig;
  };
  for (const s of INTERRUPTS) process.on(s, onSignal);
  try {
    const cgroupFd = cgroup?.version === 2 && cgroup.v2DirFd ? cgroup.v2DirFd() : -1;
    await loadNative();
    mark("helper loaded");
    const spawned = nativeSpawn({
      cloneFlags: plan.cloneFlags,
      cgroupFd,
      statusFd: statusW,
      syncFd: syncR,
      ops: plan.ops.map((o) => o.op),
      keepFds: [statusW, syncR],
      argv: spec.argv,
      env: Object.entries(env).map(([k, v]) => `${k}=${v}`),
      path: env.PATH ?? DEFAULT_PATH,
      workdir: spec.workdir,
      keepCaps: opts.keepCaps ?? 0n,
      seccomp: opts.seccomp ?? null,
      ttyFd: -1,
      flags: SPAWN_FLAGS.NEW_SESSION,
    });
    mark("sandbox cloned");
    opts.phases?.push(["sandbox cloned", performance.now()]);
    const { pid, pidfd } = spawned;
    libc.close(statusW);
    libc.close(syncR);
    if (pid < 0) {
      return {
        ...setupFailure(plan, 0, -pid, t0),
        message: `sandbox setup failed at "clone the sandbox namespaces": ${libc.errnoName(-pid)} (${libc.strerror(-pid)})`,
      };
    }
    opts.onSpawned?.(pid);
    try {
      // cgroup v1 has no CLONE_INTO_CGROUP: join now, while the child mounts in parallel
      // (the first attach waits out an RCU grace period); its sync point only collects the ack.
      const joinError = joinCgroup(cgroupFd < 0 ? cgroup : null, pid);
      return await supervise(plan, spec.argv[0] ?? "", { pid, pidfd, statusR, syncW, joinError }, opts, t0, () => interrupted);
    } finally {
      // supervise() reaps init on every normal path; after an exception, make sure it is
      // gone before its stacks are freed (they live in our memory).
      ensureReaped(pidfd);
      libc.close(pidfd);
      spawned.release();
    }
  } finally {
    for (const s of INTERRUPTS) process.off(s, onSignal);
    libc.close(statusR);
    libc.close(syncW);
  }
}

/** What a supervisor saw of one command, from the status socket and its own timers. */
export interface Outcome {
  setupErr: { step: number; err: number; detail?: string } | null;
  killedFor: "timeout" | "interrupted" | null;
  interruptSignal: string;
  execErr: number | null;
  /** The command's wait status, as init (or the exec joiner) reported it. */
  exitStatus: number | null;
  t0: number;
  durationMs: number;
  argv0: string;
  timeoutMs: number;
  /** What was killed, for the one-line message: "the sandbox was killed", … */
  afterTimeout: string;
  afterInterrupt: string;
}

/** The RunResult an outcome gives, or null when the command never reported (the caller says why). */
export function outcomeResult(plan: Plan, o: Outcome): RunResult | null {
  const { durationMs, execErr, exitStatus } = o;
  if (o.setupErr) {
    const { step, err, detail } = o.setupErr;
    return { ...setupFailure(plan, step, err, o.t0, detail), durationMs };
  }
  if (o.killedFor === "timeout") {
    return { exitCode: EXIT.TIMEOUT, signal: "SIGKILL", reason: "timeout", durationMs, message: `timed out after ${fmtMs(o.timeoutMs)}; ${o.afterTimeout}` };
  }
  if (o.killedFor === "interrupted") {
    const sig = o.interruptSignal;
    return { exitCode: 128 + SIGNALS.indexOf(sig), signal: sig, reason: "interrupted", durationMs, message: `cave received ${sig}; ${o.afterInterrupt}` };
  }
  if (execErr !== null) {
    const notFound = execErr === 2;
    return {
      exitCode: notFound ? EXIT.NOT_FOUND : EXIT.NOT_EXECUTABLE,
      signal: null,
      reason: notFound ? "not_found" : "not_executable",
      durationMs,
      message: notFound ? `command not found: ${o.argv0}` : `cannot execute: ${libc.errnoName(execErr)} (${libc.strerror(execErr)})`,
    };
  }
  if (exitStatus !== null) {
    const sig = exitStatus & 0x7f;
    if (sig === 0) return { exitCode: (exitStatus >> 8) & 0xff, signal: null, reason: "exit", durationMs };
    return { exitCode: 128 + sig, signal: signalName(sig), reason: "signal", durationMs, message: `killed by ${signalName(sig)}` };
  }
  return null;
}

/** Kills and reaps init unless that already happened (ECHILD: reaped before). */
export function ensureReaped(pidfd: number): void {
  try {
    if (libc.waitPidfd(pidfd, true) === null) {
      libc.pidfdSendSignal(pidfd, 9);
      libc.waitPidfd(pidfd);
    }
  } catch (e) {
    if (!(e instanceof libc.SysError && e.errno === 10)) throw e;
  }
}

export interface Child {
  pid: number;
  pidfd: number;
  statusR: number;
  syncW: number;
  /** Joining the cgroup failed: the child is told at its sync point and never runs the command. */
  joinError: unknown;
  /** What a timeout or interruption sends the child: 9 (default) kills run's init and the
   *  namespace; exec's joiner takes 15 and kills the command's process group. */
  killSignal?: number;
}

/**
 * Joins a just-cloned child to its cgroup (v1 has no CLONE_INTO_CGROUP) and returns the error
 * instead of throwing: the child is told at its sync point and never runs the command.
 */
export function joinCgroup(cgroup: { join(pid: number): void } | null | undefined, pid: number): unknown {
  if (!cgroup) return null;
  try {
    cgroup.join(pid);
    return null;
  } catch (e) {
    return e;
  }
}

/** What a command's status messages said: the part of an Outcome both supervisors collect alike. */
export interface Reported {
  setupErr: { step: number; err: number; detail?: string } | null;
  execErr: number | null;
  exitStatus: number | null;
}

/**
 * Records SETUP_ERR (the first one wins: a supervisor's own reason, set before, too), EXEC_ERR
 * and EXIT into `r`; false for the other kinds (SYNC, STARTED, PTY), which each supervisor
 * answers in its own way.
 */
export function recordStatus(r: Reported, m: Msg): boolean {
  switch (m.type) {
    case MSG.SETUP_ERR:
      r.setupErr ??= { step: m.step, err: m.err };
      return true;
    case MSG.EXEC_ERR:
      r.execErr = m.err;
      return true;
    case MSG.EXIT:
      r.exitStatus = m.val;
      return true;
    default:
      return false;
  }
}

/** Supervises a cloned child in 50 ms poll slices (run, and exec with a terminal). */
export async function supervise(
  plan: Plan,
  argv0: string,
  c: Child,
  opts: RunOptions,
  t0: number,
  interrupted: () => string | null,
): Promise<RunResult> {
  const msgs = new Messages(c.statusR);
  const deadline = t0 + opts.timeoutMs;
  let syncIndex = 0;
  const rep: Reported = { setupErr: null, execErr: null, exitStatus: null };
  let killedFor: "timeout" | "interrupted" | null = null;
  let statusOpen = true;
  let ptyOpen = true;
  // A holder, not a `let`: TypeScript cannot see the assignment inside handle().
  const term: { pty: PtyRelay | null } = { pty: null };

  const handle = (m: Msg) => {
    if (m.type === MSG.EXIT) mark("command exited");
    if (recordStatus(rep, m)) return;
    switch (m.type) {
      case MSG.SYNC: {
        mark(`sync ${syncIndex}`);
        const action = plan.syncs[syncIndex++];
        let ack = 0;
        try {
          if (action?.kind === "write-id-maps") {
            // setgroups must be denied before an unprivileged gid_map write.
            writeProc(`/proc/${c.pid}/setgroups`, "deny");
            writeProc(`/proc/${c.pid}/uid_map`, action.uidMap);
            writeProc(`/proc/${c.pid}/gid_map`, action.gidMap);
          } else if (action?.kind === "join-cgroup") {
            if (c.joinError) throw c.joinError;
          } else if (action?.kind === "size-terminal") {
            term.pty?.size();
            term.pty?.start();
          }
        } catch (e) {
          // The child dies with this errno; the parent's own reason wins the report.
          const err = e instanceof libc.SysError ? e.errno : 1;
          rep.setupErr = { step: m.step, err, detail: isCaveError(e) ? e.message : undefined };
          ack = Math.min(255, Math.max(1, err));
        }
        libc.writeAll(c.syncW, new Uint8Array([ack]));
        break;
      }
      case MSG.STARTED:
        mark("command started");
        // set-up is over: a long command's terminal relay gets the normal JIT (src/core/jit.ts)
        normalJitPolicy();
        break;
      case MSG.PTY:
        if (m.fd !== undefined) term.pty = new PtyRelay(m.fd);
        break;
    }
  };

  let result: libc.WaitResult | null = null;
  try {
    while (!result) {
      const left = deadline - performance.now();
      if (!killedFor && interrupted()) {
        killedFor = "interrupted";
        libc.pidfdSendSignal(c.pidfd, c.killSignal ?? 9);
      } else if (!killedFor && left <= 0) {
        killedFor = "timeout";
        libc.pidfdSendSignal(c.pidfd, c.killSignal ?? 9);
      }
      const fds: [number, number][] = [
        [c.pidfd, libc.POLLIN],
        [statusOpen ? c.statusR : -1, libc.POLLIN],
      ];
      const ptyFds = ptyOpen && term.pty ? term.pty.pollFds() : [];
      const revents = libc.poll([...fds, ...ptyFds], killedFor ? SLICE_MS : Math.min(SLICE_MS, Math.max(0, left)));
      const [childEv = 0, statusEv = 0] = revents;
      if (term.pty && ptyFds.length && revents.slice(2).some(Boolean)) ptyOpen = term.pty.pump(revents.slice(2));
      if (statusEv && statusOpen) {
        const batch = msgs.next();
        if (batch === null) statusOpen = false;
        else batch.forEach(handle);
      }
      if (childEv) {
        result = libc.waitPidfd(c.pidfd);
        mark("init reaped");
        break;
      }
      // Let Bun deliver signal events (Ctrl-C, SIGWINCH) between slices.
      await new Promise((r) => setImmediate(r));
    }
    // Init is gone, so the namespace is too; collect what it said before it went.
    while (statusOpen) {
      const [ev = 0] = libc.poll([[c.statusR, libc.POLLIN]], 1000);
      if (!ev) break;
      const batch = msgs.next();
      if (batch === null) break;
      batch.forEach(handle);
    }
    term.pty?.drain();
  } finally {
    // The caller's terminal leaves raw mode whatever happened.
    term.pty?.stop();
  }

  const durationMs = performance.now() - t0;
  const killed = c.killSignal === 15 ? "the command's process group was killed" : undefined;
  const verdict = outcomeResult(plan, {
    ...rep, killedFor, interruptSignal: interrupted() ?? "SIGTERM",
    t0, durationMs, argv0, timeoutMs: opts.timeoutMs,
    afterTimeout: killed ?? "the sandbox was killed",
    afterInterrupt: killed ?? "the sandbox was torn down",
  });
  if (verdict) return verdict;
  // Init died without reporting: killed from outside (the OOM killer, or kill -9 on it).
  const r = result as libc.WaitResult;
  if (!r.exited)
    return {
      exitCode: 128 + r.signal,
      signal: signalName(r.signal),
      reason: "signal",
      durationMs,
      message: `sandbox init killed by ${signalName(r.signal)}`,
    };
  return {
    exitCode: EXIT.SETUP,
    signal: null,
    reason: "setup_failed",
    durationMs,
    message: `sandbox init exited with ${r.code} before the command started`,
  };
}

function fmtMs(ms: number): string {
  return ms % 1000 === 0 ? `${ms / 1000}s` : `${ms}ms`;
}

function writeProc(path: string, data: string) {
  const fd = libc.openPath(path, 1 | libc.O_CLOEXEC);
  try {
    libc.writeAll(fd, Buffer.from(data));
  } finally {
    libc.close(fd);
  }
}
