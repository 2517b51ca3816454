// cave exec: runs one command inside a running persistent sandbox. A child of cave (the
// joiner) enters the sandbox's cgroup (an exec group of its own inside it) and namespaces
// through a pidfd of its init, then forks the command through the same exec stage as
// `cave run`. Supervised without blocking the event loop (a server runs many at once), except
// with a terminal, whose master fd arrives over SCM_RIGHTS and is supervised like run.
import { loadNative, MSG, MSG_SIZE, nativeSpawn, SPAWN_FLAGS, type SpawnRequest } from "../../ffi/helper.ts";
import * as libc from "../../ffi/libc.ts";
import { CaveError } from "../core/errors.ts";
import { boxCgroupManager, execCgroupManager, probeCgroups, type CgroupManager } from "./cgroups/index.ts";
import { type InitHandle, openInit } from "./persistent.ts";
import { buildExecPlan, DEFAULT_PATH, sandboxEnv, type ExecSpec } from "./plan.ts";
import { ensureReaped, EXIT, joinCgroup, type Msg, outcomeResult, recordStatus, type Reported, setupFailure, signalName, supervise, type RunOptions, type RunResult } from "./run.ts";

/** Where an exec's stdio goes: cave's own fds ("inherit"), or pipes collected into strings. */
export interface ExecIo {
  /** Bytes for the command's stdin (then EOF); absent: /dev/null-like empty stdin. */
  stdin?: Uint8Array | string;
  /** Largest output kept per stream; more is drained and dropped (the result says so). */
  maxOutputBytes?: number;
  /** Called with each chunk of output as it comes; then nothing is kept (no size limit). */
  onOutput?: (stream: "stdout" | "stderr", chunk: Uint8Array) => void;
}

export interface CapturedResult extends RunResult {
  stdout: string;
  stderr: string;
  truncated?: boolean;
}

/** execCaptured's result with stdout as bytes (files copied out are not text). */
export interface RawResult extends RunResult {
  stdout: Uint8Array;
  stderr: string;
  truncated: boolean;
}

/**
 * Runs one command inside a running persistent sandbox: a child of cave joins the cgroup and
 * the namespaces of its init, then runs the command through the same exec stage as `cave run`
 * (capabilities dropped, no_new_privs, default signals, fds closed, seccomp last).
 * The command's stdio is cave's own; see execCaptured for pipes.
 */
export async function execPersistent(init: InitHandle, id: string, spec: ExecSpec, opts: RunOptions): Promise<RunResult> {
  if (spec.tty) return execTty(init, id, spec, opts);
  return (await execWith(init, id, spec, opts, null)).result;
}

/**
 * An exec with a pseudo-terminal (cave exec in a terminal): the joiner opens it in the
 * sandbox's devpts and passes the master back over the status socket (SCM_RIGHTS), which a
 * stream cannot carry; so this one is supervised like `cave run`, in poll slices, which is
 * fine for the one interactive command a CLI process runs.
 */
async function execTty(init: InitHandle, id: string, spec: ExecSpec, opts: RunOptions): Promise<RunResult> {
  const t0 = performance.now();
  const initPidfd = openInit(init);
  if (initPidfd === null) {
    throw new CaveError("SANDBOX_NOT_RUNNING", `the sandbox's init (pid ${init.pid}) is gone`, { hint: "start the sandbox again" });
  }
  const [statusR, statusW] = libc.socketPair();
  const [syncR, syncW] = libc.pipe();
  let interrupted: string | null = null;
  const onSignal = (sig: string) => {
    interrupted ??= sig;
  };
  for (const sig of INTERRUPTS) process.on(sig, onSignal);
  let group: CgroupManager | null = null;
  try {
    const { cgroup, exec } = execGroup(id);
    group = exec;
    const plan = buildExecPlan(spec, initPidfd, (process.getuid?.() ?? 0) === 0);
    const env = sandboxEnv(process.env, spec.env);
    const cgroupFd = exec?.version === 2 && exec.v2DirFd ? exec.v2DirFd() : -1;
    await loadNative();
    const spawned = nativeSpawn(execRequest(plan, spec, env, opts, { cgroupFd, statusW, syncR, initPidfd }));
    libc.close(statusW);
    libc.close(syncR);
    const { pid, pidfd } = spawned;
    if (pid < 0) return setupFailure(plan, -1, -pid, t0, `clone: ${libc.errnoName(-pid)} (${libc.strerror(-pid)})`);
    try {
      const joinError = joinCgroup(cgroupFd < 0 ? exec : null, pid);
      const oomBefore = oomCount(cgroup, exec);
      const result = oomVerdict(
        await supervise(plan, spec.argv[0] ?? "", { pid, pidfd, statusR, syncW, joinError, killSignal: 15 }, opts, t0, () => interrupted),
        [cgroup, exec],
        oomBefore,
      );
      if (result.reason === "timeout" || result.reason === "interrupted") killRest(exec);
      return result;
    } finally {
      ensureReaped(pidfd);
      libc.close(pidfd);
      spawned.release();
    }
  } finally {
    for (const sig of INTERRUPTS) process.off(sig, onSignal);
    libc.close(statusR);
    libc.close(syncW);
    libc.close(initPidfd);
    endGroup(group);
  }
}

/** execPersistent with the command's stdin fed from `io.stdin` and stdout/stderr collected. */
export async function execCaptured(init: InitHandle, id: string, spec: ExecSpec, opts: RunOptions, io: ExecIo = {}): Promise<CapturedResult> {
  const { result, stdout, stderr, truncated } = await execWith(init, id, spec, opts, io);
  return { ...result, stdout: stdout.toString("utf8"), stderr: stderr.toString("utf8"), ...(truncated ? { truncated } : {}) };
}

/** execCaptured with stdout kept as bytes. */
export async function execRaw(init: InitHandle, id: string, spec: ExecSpec, opts: RunOptions, io: ExecIo = {}): Promise<RawResult> {
  const { result, stdout, stderr, truncated } = await execWith(init, id, spec, opts, io);
  return { ...result, stdout, stderr: stderr.toString("utf8"), truncated };
}

async function execWith(
  init: InitHandle,
  id: string,
  spec: ExecSpec,
  opts: RunOptions,
  io: ExecIo | null,
): Promise<{ result: RunResult; stdout: Buffer; stderr: Buffer; truncated: boolean }> {
  const t0 = performance.now();
  const initPidfd = openInit(init);
  if (initPidfd === null) {
    throw new CaveError("SANDBOX_NOT_RUNNING", `the sandbox's init (pid ${init.pid}) is gone`, { hint: "start the sandbox again" });
  }
  const opened: number[] = [];
  const pipe = () => {
    const p = libc.pipe();
    opened.push(...p);
    return p;
  };
  let group: CgroupManager | null = null;
  try {
    const { cgroup, exec } = execGroup(id);
    group = exec;
    opts.phases?.push(["cgroup joined", performance.now()]);
    const plan = buildExecPlan(spec, initPidfd, (process.getuid?.() ?? 0) === 0);
    opts.phases?.push(["plan built", performance.now()]);
    const env = sandboxEnv(process.env, spec.env);
    const stdio = io ? ([pipe(), pipe(), pipe()] as const) : null;
    const [statusR, statusW] = libc.socketPair();
    const [syncR, syncW] = libc.pipe();
    opened.push(statusR, statusW, syncR, syncW);
    const childFds = stdio ? ([stdio[0][0], stdio[1][1], stdio[2][1]] as [number, number, number]) : undefined;
    const cgroupFd = exec?.version === 2 && exec.v2DirFd ? exec.v2DirFd() : -1;
    await loadNative();
    const spawned = nativeSpawn(execRequest(plan, spec, env, opts, { cgroupFd, statusW, syncR, initPidfd, childFds }));
    opts.phases?.push(["process spawned", performance.now()]);
    // The child has its own copies now; ours of its ends must go, or EOF never comes.
    for (const fd of [statusW, syncR, ...(childFds ?? [])]) closeOwned(opened, fd);
    const { pid, pidfd } = spawned;
    if (pid < 0) {
      return { result: setupFailure(plan, -1, -pid, t0, `clone: ${libc.errnoName(-pid)} (${libc.strerror(-pid)})`), stdout: Buffer.alloc(0), stderr: Buffer.alloc(0), truncated: false };
    }
    try {
      const joinError = joinCgroup(cgroupFd < 0 ? exec : null, pid);
      const max = io?.maxOutputBytes ?? 16 << 20;
      // Bun's fd streams do not close their fds: `opened` closes them once they are done.
      const on = io?.onOutput;
      const out = stdio
        ? [collect(stdio[1][0], max, on && ((c) => on("stdout", c))), collect(stdio[2][0], max, on && ((c) => on("stderr", c)))]
        : [];
      // Awaited below; until then a failure must not count as an unhandled rejection (which
      // would take a server down).
      for (const p of out) p.catch(() => {});
      const fed = stdio ? feed(stdio[0][1], io?.stdin, opened) : Promise.resolve();
      // Only the CLI's own exec (stdio inherited) answers cave's SIGINT/SIGTERM; a server's
      // shutdown is the server's to handle, and one listener per exec would pile up there.
      const oomBefore = oomCount(cgroup, exec);
      const result = oomVerdict(
        await superviseExec(plan, spec.argv[0] ?? "", { pid, pidfd, statusR, syncW, joinError }, opts.timeoutMs, t0, io === null),
        [cgroup, exec],
        oomBefore,
      );
      opts.phases?.push(["command finished", performance.now()]);
      if (result.reason === "timeout" || result.reason === "interrupted") killRest(exec);
      const [o, e] = await Promise.all(out);
      await fed;
      return { result, stdout: o?.bytes ?? Buffer.alloc(0), stderr: e?.bytes ?? Buffer.alloc(0), truncated: Boolean(o?.truncated || e?.truncated) };
    } finally {
      ensureReaped(pidfd);
      libc.close(pidfd);
      spawned.release();
    }
  } finally {
    for (const fd of opened) libc.close(fd);
    libc.close(initPidfd);
    endGroup(group);
  }
}

/** The sandbox's cgroup (attached) and a fresh one for this exec inside it. */
/** The helper's request for an exec: the plan, the command, and the fds the child keeps. */
function execRequest(
  plan: ReturnType<typeof buildExecPlan>,
  spec: ExecSpec,
  env: Record<string, string>,
  opts: RunOptions,
  fds: { cgroupFd: number; statusW: number; syncR: number; initPidfd: number; childFds?: [number, number, number] },
): SpawnRequest {
  const { childFds } = fds;
  return {
    cloneFlags: 0,
    cgroupFd: fds.cgroupFd,
    statusFd: fds.statusW,
    syncFd: fds.syncR,
    ops: plan.ops.map((o) => o.op),
    keepFds: [fds.statusW, fds.syncR, fds.initPidfd, ...(childFds ?? [])],
    argv: spec.argv,
    env: Object.entries(env).map(([k, v]) => `${k}=${v}`),
    path: env.PATH ?? DEFAULT_PATH,
    workdir: spec.workdir,
    keepCaps: opts.keepCaps ?? 0n,
    seccomp: opts.seccomp ?? null,
    ttyFd: -1,
    flags: SPAWN_FLAGS.NEW_SESSION | SPAWN_FLAGS.EXEC,
    ...(childFds ? { stdio: childFds } : {}),
  };
}

function execGroup(key: string): { cgroup: CgroupManager | null; exec: CgroupManager | null } {
  const probe = probeCgroups();
  const cgroup = boxCgroupManager(key, undefined, probe);
  if (!cgroup) return { cgroup: null, exec: null };
  cgroup.attach();
  const execId = Array.from(crypto.getRandomValues(new Uint8Array(6)), (b) => b.toString(16).padStart(2, "0")).join("");
  const exec = execCgroupManager(key, execId, undefined, probe);
  exec?.createChild();
  return { cgroup, exec };
}

/**
 * After a timeout or interruption, once the joiner has killed the command's process group and
 * reaped it, whatever the command started that left its group (setsid, daemons) is still in
 * the exec's cgroup: kill it too. Not before: SIGKILLing the joiner while the command lives
 * would hand the command to the host's init (the joiner's pid namespace), not the sandbox's.
 */
function killRest(group: CgroupManager | null): void {
  try {
    group?.killAll();
  } catch {
    // the sandbox was stopped meanwhile: nothing is left
  }
}

/** Removes an exec's cgroup once nothing runs in it; what the command left running (a
 *  daemon) keeps it until the sandbox stops, which removes the whole tree. */
function endGroup(group: CgroupManager | null): void {
  if (!group) return;
  group.release();
  try {
    group.removeIfEmpty();
  } catch {
    // the sandbox was stopped meanwhile and took its cgroups along
  }
}

/**
 * A command SIGKILLed while the sandbox's OOM-kill count went up ran out of memory (as in
 * `cave run`). The count is the whole sandbox's, so an exec killed for another reason at the
 * same moment as another exec's OOM could be reported as OOM too: the message says "sandbox".
 */
function oomVerdict<R extends RunResult>(r: R, groups: [CgroupManager | null, CgroupManager | null], before: number): R {
  if (r.signal !== "SIGKILL" || r.reason !== "signal") return r;
  if (oomCount(...groups) <= before) return r;
  return { ...r, exitCode: 137, signal: "SIGKILL", reason: "oom", message: "out of memory: the sandbox went over its memory limit and the command was killed" };
}

/**
 * OOM kills counted in the sandbox's cgroup and the exec's: v2 propagates the count up to
 * the sandbox's (the exec's has no memory controller of its own), v1 counts it only where
 * the victim was, the exec's group. A group that cannot say (gone, no such file) counts 0.
 */
function oomCount(...groups: (CgroupManager | null)[]): number {
  let n = 0;
  for (const g of groups) {
    try {
      n += g ? g.oomKills() : 0;
    } catch {
      // no memory controller here, or the sandbox was stopped meanwhile
    }
  }
  return n;
}

function closeOwned(list: number[], fd: number): void {
  const i = list.indexOf(fd);
  if (i >= 0) list.splice(i, 1);
  libc.close(fd);
}

/** Reads a pipe to EOF without blocking the event loop; keeps the first `max` bytes. */
async function collect(fd: number, max: number, onChunk?: (chunk: Uint8Array) => void): Promise<{ bytes: Buffer; truncated: boolean }> {
  const chunks: Uint8Array[] = [];
  let size = 0;
  let truncated = false;
  const reader = Bun.file(fd).stream().getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    if (onChunk) {
      try {
        onChunk(value);
      } catch {
        // the consumer failed (a client gone): keep draining, or the command blocks on a full pipe
      }
      continue;
    }
    if (size + value.byteLength > max) {
      truncated = true;
      if (size < max) chunks.push(value.subarray(0, max - size));
      size = max;
    } else {
      chunks.push(value);
      size += value.byteLength;
    }
  }
  return { bytes: Buffer.concat(chunks), truncated };
}

/** Writes the command's stdin; the caller closes fd (EOF) once this settles. A command that
 *  exits without reading it all makes the write fail with EPIPE: not an error, as in a shell. */
async function feed(fd: number, data: Uint8Array | string | undefined, owned: number[]): Promise<void> {
  const bytes = typeof data === "string" ? new TextEncoder().encode(data) : (data ?? new Uint8Array(0));
  if (bytes.byteLength > 0) {
    try {
      const w = Bun.file(fd).writer();
      w.write(bytes);
      await w.end();
    } catch {
      // EPIPE: the command is gone
    }
  }
  // EOF now, not when the exec is over: a command reading stdin to its end must see it.
  closeOwned(owned, fd);
}

interface ExecChild {
  pid: number;
  pidfd: number;
  statusR: number;
  syncW: number;
  joinError: unknown;
}

const INTERRUPTS = ["SIGINT", "SIGTERM", "SIGHUP"] as const;
/** After SIGTERM to the joiner (which SIGKILLs the command's group), how long before it is SIGKILLed too. */
const KILL_BACKSTOP_MS = 5_000;

/**
 * Supervises an exec without blocking the event loop (a server runs many at once): the status
 * socket is read as a stream; its EOF means the joiner is exiting, and then it is reaped.
 * A timeout or an interruption of cave sends the joiner SIGTERM: it SIGKILLs the command's
 * process group and reports how it ended.
 */
async function superviseExec(
  plan: ReturnType<typeof buildExecPlan>,
  argv0: string,
  c: ExecChild,
  timeoutMs: number,
  t0: number,
  handleSignals: boolean,
): Promise<RunResult> {
  let syncIndex = 0;
  const rep: Reported = { setupErr: null, execErr: null, exitStatus: null };
  let killedFor: "timeout" | "interrupted" | null = null;
  let interruptSignal = "SIGTERM";
  let backstop: ReturnType<typeof setTimeout> | undefined;
  const kill = (why: "timeout" | "interrupted") => {
    if (killedFor) return;
    killedFor = why;
    libc.pidfdSendSignal(c.pidfd, 15);
    backstop = setTimeout(() => libc.pidfdSendSignal(c.pidfd, 9), KILL_BACKSTOP_MS);
  };
  const timer = setTimeout(() => kill("timeout"), timeoutMs);
  const onSignal = (sig: string) => {
    interruptSignal = sig;
    kill("interrupted");
  };
  if (handleSignals) for (const s of INTERRUPTS) process.on(s, onSignal);
  const handle = (m: Msg) => {
    if (recordStatus(rep, m)) return;
    switch (m.type) {
      case MSG.SYNC: {
        const action = plan.syncs[syncIndex++];
        let ack = 0;
        if (action?.kind !== "join-cgroup") {
          rep.setupErr = { step: m.step, err: 22, detail: `unexpected sync point ${action?.kind ?? "(none)"}` };
          ack = 22;
        } else if (c.joinError) {
          const e = c.joinError;
          rep.setupErr = { step: m.step, err: e instanceof libc.SysError ? e.errno : 1, detail: e instanceof Error ? e.message : String(e) };
          ack = Math.min(255, Math.max(1, rep.setupErr.err));
        }
        libc.writeAll(c.syncW, new Uint8Array([ack]));
        break;
      }
    }
  };
  let wait: libc.WaitResult | null;
  try {
    const reader = Bun.file(c.statusR).stream().getReader();
    let rest = new Uint8Array(0);
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      const data = new Uint8Array(rest.byteLength + value.byteLength);
      data.set(rest);
      data.set(value, rest.byteLength);
      const view = new DataView(data.buffer);
      let o = 0;
      for (; o + MSG_SIZE <= data.byteLength; o += MSG_SIZE) {
        handle({ type: view.getInt32(o, true), step: view.getInt32(o + 4, true), err: view.getInt32(o + 8, true), val: view.getInt32(o + 12, true) });
      }
      rest = data.slice(o);
    }
    // EOF: every holder of the socket's other end is gone; the joiner is exiting.
    wait = libc.waitPidfd(c.pidfd);
  } finally {
    clearTimeout(timer);
    clearTimeout(backstop);
    if (handleSignals) for (const s of INTERRUPTS) process.off(s, onSignal);
  }
  const durationMs = performance.now() - t0;
  const verdict = outcomeResult(plan, {
    ...rep, killedFor, interruptSignal, t0, durationMs, argv0, timeoutMs,
    afterTimeout: "the command's process group was killed",
    afterInterrupt: "the command's process group was killed",
  });
  if (verdict) return verdict;
  const how = wait && !wait.exited ? `killed by ${signalName(wait.signal)}` : `exited with ${wait?.exited ? wait.code : "?"}`;
  return { exitCode: EXIT.SETUP, signal: null, reason: "setup_failed", durationMs, message: `the exec's joiner ${how} before the command ended (was the sandbox stopped?)` };
}
