// The cgroup contracts (Limits, the manager v1 and v2 both implement, the CgroupFs seam every
// host access goes through) and the few helpers both versions share, like youki's common.rs.
import { accessSync, closeSync, constants, mkdirSync, openSync, readdirSync, readFileSync, rmdirSync, statSync, writeSync } from "../../../ffi/fs.ts";
import { CaveError } from "../../core/errors.ts";
import { MAX_CPUS, MIN_CPUS } from "../../core/units.ts";

export interface Limits {
  memoryBytes: number;
  /** Swap on top of memoryBytes; default 0: no swap. */
  swapBytes?: number;
  /** CPU bandwidth in cores (1.5 = one and a half cores' worth of time per period). */
  cpus: number;
  pids: number;
  /** Proportional IO weight in cgroup v2 terms (1–10000, kernel default 100). */
  ioWeight?: number;
}

/** A cgroup's current use of what its limits bound; null where the host does not say. */
export interface Usage {
  memoryBytes: number;
  pids: number;
  cpuSeconds: number | null;
}

export interface CgroupManager {
  readonly version: 1 | 2;
  /** The leaf cgroup's directory name, `cave-<owner pid>-<id>`, the same in every hierarchy. */
  readonly name: string;
  /** v2: the cgroup's directory; v1: its directory in the memory hierarchy. */
  path(): string;
  /** Creates the cgroup and writes every limit; on any failure removes what it made and throws. */
  create(limits: Limits): void;
  /** Moves pid (its whole thread group) into the cgroup, in every hierarchy on v1. */
  join(pid: number): void;
  /** Makes the cgroup as a child of an existing, limited one (an exec's group inside its
   *  sandbox's): directories only, no limits of its own; the parent's bound it. */
  createChild(): void;
  /** Whether no process is left in the cgroup or below it. */
  isEmpty(): boolean;
  /** Closes what this manager holds open (v2's directory fd) without touching the cgroup. */
  release(): void;
  /** Takes over a cgroup that exists already (a persistent sandbox's, made by another cave
   *  process) so join() and v2DirFd() work; throws SANDBOX_CGROUP when it is gone. */
  attach(): void;
  /** v2 only: an O_DIRECTORY fd of the cgroup for clone3(CLONE_INTO_CGROUP); owned and closed by destroy(). */
  v2DirFd?(): number;
  /** Whether the kernel OOM-killed a process in the cgroup; still answers after destroy(). */
  oomKilled(): boolean;
  /** What the cgroup uses now: memory (bytes, page cache included), processes, CPU time. */
  usage(): Usage;
  /** How many processes the kernel has OOM-killed in the cgroup so far (a persistent sandbox's
   *  exec compares the count before and after). */
  oomKills(): number;
  /** SIGKILLs every process in the cgroup and its descendants; returns without waiting for exit. */
  killAll(): void;
  /** Removes the cgroup if no process and no child cgroup is in it, with one rmdir per
   *  directory (the kernel refuses a populated one: EBUSY); never kills. True when it is gone. */
  removeIfEmpty(): boolean;
  /** Kills, waits until the cgroup is empty, removes every directory it made; idempotent.
   *  An empty cgroup (the usual case: the sandbox's init has exited) costs only removeIfEmpty(). */
  destroy(): void;
}

/**
 * Everything the managers do to the host: cgroupfs files, /proc, kill and the pause between
 * polls. One real implementation (hostFs); the unit tests' recording fake is the only other.
 * Failing methods throw errors carrying the errno name in `code` (as node:fs does).
 */
export interface CgroupFs {
  read(path: string): string;
  /** One write(2) of data to an existing file: cgroupfs takes each value in a single write. */
  write(path: string, data: string): void;
  mkdir(path: string): void;
  rmdir(path: string): void;
  exists(path: string): boolean;
  /** Names of the subdirectories (child cgroups) of dir. */
  subdirs(dir: string): string[];
  /** Whether this process may create cgroups in dir (false on a read-only mount or without delegation). */
  writable(dir: string): boolean;
  mtimeMs(path: string): number;
  openDir(path: string): number;
  close(fd: number): void;
  /** SIGKILL; a process that is already gone is not an error. */
  kill(pid: number): void;
  sleep(ms: number): void;
}

export const hostFs: CgroupFs = {
  read: (path) => readFileSync(path, "utf8"),
  write(path, data) {
    // O_WRONLY without O_CREAT: a missing control file means a missing controller, and
    // cgroup.kill has no read side, so opening it read-write would fail.
    const fd = openSync(path, constants.O_WRONLY);
    try {
      writeSync(fd, data);
    } finally {
      closeSync(fd);
    }
  },
  mkdir: (path) => mkdirSync(path),
  rmdir: (path) => rmdirSync(path),
  exists(path) {
    try {
      accessSync(path, constants.F_OK);
      return true;
    } catch {
      return false;
    }
  },
  subdirs: (dir) =>
    readdirSync(dir, { withFileTypes: true })
      .filter((d) => d.isDirectory())
      .map((d) => d.name),
  writable(dir) {
    try {
      accessSync(dir, constants.W_OK);
      return true;
    } catch {
      return false;
    }
  },
  mtimeMs: (path) => statSync(path).mtimeMs,
  openDir: (path) => openSync(path, constants.O_RDONLY | constants.O_DIRECTORY),
  close: (fd) => closeSync(fd),
  kill(pid) {
    try {
      process.kill(pid, "SIGKILL");
    } catch (e) {
      if (errnoOf(e) !== "ESRCH") throw e;
    }
  },
  sleep: (ms) => Bun.sleepSync(ms),
};

/** The directory under each hierarchy's root that holds every cave cgroup. */
export const CAVE_PARENT = "cave";
/** The CFS period for cpu.max and cpu.cfs_period_us: the kernel default, 100 ms. */
export const CPU_PERIOD_US = 100_000;
/** How long destroy() waits for SIGKILLed processes to leave before it reports them. */
export const EMPTY_WAIT_MS = 10_000;
const ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;
/** A cave cgroup's name; the owner pid lets cleanupStale tell a crashed run from a live one. */
export const NAME_PATTERN = /^cave-(\d+)-[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;

export function cgroupName(ownerPid: number, id: string): string {
  if (!ID_PATTERN.test(id)) {
    throw new CaveError("SANDBOX_CGROUP", `invalid cgroup id ${JSON.stringify(id)}`, {
      hint: "use 1–64 letters, digits, '_', '.' or '-', starting with a letter or digit",
    });
  }
  return `cave-${ownerPid}-${id}`;
}

export function errnoOf(e: unknown): string {
  const code = (e as { code?: unknown } | null)?.code;
  return typeof code === "string" ? code : "EIO";
}

function errnoText(e: unknown): string {
  const errno = (e as { errno?: unknown } | null)?.errno;
  // node:fs messages read "EACCES: permission denied, open '…'"; the text before the comma is enough.
  if (typeof errno === "number" && e instanceof Error) return e.message.split(",")[0] ?? e.message;
  return e instanceof Error ? e.message : String(e);
}

export const PERMISSION_HINT =
  "cgroups need root, or a cgroup tree delegated to this user on a read-write cgroupfs mount";

/** Converts an errno from a cgroupfs operation, once, where it enters. */
export function cgroupError(action: string, path: string, e: unknown, hint?: string): CaveError {
  const code = errnoOf(e);
  const permission = code === "EACCES" || code === "EPERM" || code === "EROFS";
  return new CaveError("SANDBOX_CGROUP", `cannot ${action} ${path}: ${code} (${errnoText(e)})`, {
    hint: hint ?? (permission ? PERMISSION_HINT : "check the cgroup mount and that the controller is enabled"),
    cause: e,
  });
}

export function joinHint(code: string, pid: number): string {
  if (code === "ESRCH") return `process ${pid} exited before it could join the cgroup`;
  if (code === "EACCES" || code === "EPERM" || code === "EROFS") return PERMISSION_HINT;
  if (code === "EBUSY") return "the cgroup has child cgroups with controllers enabled; processes may only join leaves";
  return "check that the cgroup still exists (create() first, before destroy())";
}

export function checkLimits(l: Limits): void {
  const bad = (field: string, value: unknown, rule: string) =>
    new CaveError("SANDBOX_CGROUP", `invalid cgroup limit ${field}=${String(value)}: ${rule}`, {
      hint: "limits reach the cgroup layer already parsed; this is a bug in the caller",
    });
  // Infinity means no limit (written as "max"); everything else must be a real bound.
  const unlimited = (x: number) => x === Number.POSITIVE_INFINITY;
  if (!unlimited(l.memoryBytes) && (!Number.isSafeInteger(l.memoryBytes) || l.memoryBytes <= 0)) throw bad("memoryBytes", l.memoryBytes, "a positive whole number of bytes");
  const swap = l.swapBytes ?? 0;
  if (!Number.isSafeInteger(swap) || swap < 0) throw bad("swapBytes", l.swapBytes, "a whole number of bytes, 0 or more");
  if (!unlimited(l.memoryBytes) && !Number.isSafeInteger(l.memoryBytes + swap)) throw bad("swapBytes", l.swapBytes, "memory plus swap must stay below 2^53 bytes");
  if (!unlimited(l.cpus) && (!Number.isFinite(l.cpus) || l.cpus < MIN_CPUS || l.cpus > MAX_CPUS)) throw bad("cpus", l.cpus, `between ${MIN_CPUS} and ${MAX_CPUS}`);
  if (!unlimited(l.pids) && (!Number.isSafeInteger(l.pids) || l.pids <= 0)) throw bad("pids", l.pids, "a positive whole number");
  if (l.ioWeight !== undefined && (!Number.isSafeInteger(l.ioWeight) || l.ioWeight < 1 || l.ioWeight > 10_000)) {
    throw bad("ioWeight", l.ioWeight, "a whole number from 1 to 10000");
  }
}

/** CPU time per CPU_PERIOD_US; 1.5 cpus → 150000. MIN_CPUS keeps it at or above the kernel's 1000 µs floor. */
export function cpuQuotaUs(cpus: number): number {
  return Math.round(cpus * CPU_PERIOD_US);
}

/** A limit as cgroup files take it: the number, or `unlimited` ("max" on v2 and pids, "-1" on v1 memory/cpu). */
export function limitValue(x: number, unlimited = "max"): string {
  return x === Number.POSITIVE_INFINITY ? unlimited : String(x);
}

/** Whether the host has swap in use, from /proc/swaps (a header line, then one line per area). */
export function hostHasSwap(fs: CgroupFs): boolean {
  let text: string;
  try {
    text = fs.read("/proc/swaps");
  } catch (e) {
    throw cgroupError("read", "/proc/swaps", e, "mount /proc; cave needs it to know whether swap must be limited");
  }
  return text.split("\n").slice(1).some((line) => line.trim() !== "");
}

/** Polls `done` with short, growing pauses until it holds or `budgetMs` of pauses have passed. */
export function waitFor(fs: CgroupFs, done: () => boolean, budgetMs: number): boolean {
  let slept = 0;
  let step = 1;
  while (!done()) {
    if (slept >= budgetMs) return false;
    fs.sleep(step);
    slept += step;
    step = Math.min(step * 2, 25);
  }
  return true;
}

/** The pids in dir's cgroup.procs and in those of its descendants; [] once it is gone. */
export function pidsIn(fs: CgroupFs, dir: string): number[] {
  let text: string;
  let children: string[];
  try {
    text = fs.read(`${dir}/cgroup.procs`);
    children = fs.subdirs(dir);
  } catch (e) {
    if (errnoOf(e) === "ENOENT") return [];
    throw cgroupError("read", `${dir}/cgroup.procs`, e);
  }
  const pids = text
    .split("\n")
    .filter((l) => l !== "")
    .map(Number);
  for (const child of children) pids.push(...pidsIn(fs, `${dir}/${child}`));
  return pids;
}

/**
 * rmdir of a cgroup that may be empty: true when it is gone (or was), false when the kernel
 * says busy (a process or a child cgroup is in it, or the last process has only just left).
 * One syscall, where reading cgroup.procs across every hierarchy first costs a dozen.
 */
export function removeIfUnused(fs: CgroupFs, dir: string): boolean {
  try {
    fs.rmdir(dir);
    return true;
  } catch (e) {
    const code = errnoOf(e);
    if (code === "ENOENT") return true;
    if (code === "EBUSY") return false;
    throw cgroupError("remove", dir, e);
  }
}

/** Removes dir and the child cgroups a sandboxed process may have made in it, deepest first. */
export function removeTree(fs: CgroupFs, dir: string): void {
  let children: string[];
  try {
    children = fs.subdirs(dir);
  } catch (e) {
    if (errnoOf(e) === "ENOENT") return;
    throw cgroupError("list", dir, e);
  }
  for (const child of children) removeTree(fs, `${dir}/${child}`);
  let last: unknown;
  // The kernel can report EBUSY for a moment after the last task left (css still going offline).
  const gone = waitFor(
    fs,
    () => {
      try {
        fs.rmdir(dir);
        return true;
      } catch (e) {
        if (errnoOf(e) === "ENOENT") return true;
        if (errnoOf(e) !== "EBUSY") throw cgroupError("remove", dir, e);
        last = e;
        return false;
      }
    },
    1000,
  );
  if (!gone) throw cgroupError("remove", dir, last, "a process is still in it; it is removed by the next cleanup of stale cgroups");
}

export interface Mount {
  mountPoint: string;
  fstype: string;
  superOptions: string[];
}

/** Parses /proc/self/mountinfo (proc(5)): the fields after " - " are fstype, source, super options. */
export function parseMountinfo(text: string): Mount[] {
  const decodeOctal = (s: string) => s.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(Number.parseInt(o, 8)));
  const mounts: Mount[] = [];
  for (const line of text.split("\n")) {
    const sep = line.indexOf(" - ");
    if (sep < 0) continue;
    const before = line.slice(0, sep).split(" ");
    const after = line.slice(sep + 3).split(" ");
    const mountPoint = before[4];
    const fstype = after[0];
    if (mountPoint === undefined || fstype === undefined) continue;
    mounts.push({ mountPoint: decodeOctal(mountPoint), fstype, superOptions: (after[2] ?? "").split(",") });
  }
  return mounts;
}
