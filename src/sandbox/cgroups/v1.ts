// cgroup v1: one leaf `<mount>/cave/cave-<pid>-<id>` per hierarchy (memory, cpu, cpuacct, pids,
// freezer, blkio for IO weight); a process joins each hierarchy separately.
import { CaveError } from "../../core/errors.ts";
import {
  CAVE_PARENT,
  CPU_PERIOD_US,
  type CgroupFs,
  type CgroupManager,
  cgroupError,
  checkLimits,
  cpuQuotaUs,
  limitValue,
  EMPTY_WAIT_MS,
  errnoOf,
  hostHasSwap,
  joinHint,
  type Limits,
  type Usage,
  pidsIn,
  removeIfUnused,
  removeTree,
  waitFor,
} from "./types.ts";

/** One mounted v1 hierarchy; several controllers can share one (cpu,cpuacct is common). */
export interface V1Hierarchy {
  mount: string;
  controllers: string[];
}

export const V1_REQUIRED: readonly string[] = ["memory", "cpu", "pids"];
// cpuacct gives CPU usage, freezer a kill that forks cannot outrun, blkio the IO weight. The
// order is the order of creation, joining and removal: freezer last, so killing works to the end.
const V1_ORDER = ["memory", "cpu", "cpuacct", "pids", "blkio", "freezer"] as const;
type V1Controller = (typeof V1_ORDER)[number];

export class CgroupV1 implements CgroupManager {
  readonly version = 1 as const;
  readonly name: string;
  /** Leaf directory per controller; co-mounted controllers share one. */
  private readonly dirs = new Map<V1Controller, string>();
  private joinDirs: string[] = [];
  private oomAtDestroy: boolean | null = null;

  constructor(
    private readonly fs: CgroupFs,
    hierarchies: readonly V1Hierarchy[],
    name: string,
  ) {
    this.name = name;
    for (const c of V1_ORDER) {
      const h = hierarchies.find((x) => x.controllers.includes(c));
      if (h) this.dirs.set(c, `${h.mount}/${CAVE_PARENT}/${name}`);
    }
    const missing = V1_REQUIRED.filter((c) => !this.dirs.has(c as V1Controller));
    if (missing.length > 0) {
      throw new CaveError("SANDBOX_CGROUP", `no cgroup v1 hierarchy is mounted for ${missing.join(", ")}`, {
        hint: "mount them (mount -t cgroup -o memory cgroup /sys/fs/cgroup/memory, …) or use a cgroup v2 host",
      });
    }
  }

  path(): string {
    return this.dirOf("memory");
  }

  /** The leaf directory holding the files of controller (tests read cpuacct.usage from it). */
  dirOf(controller: V1Controller): string {
    const dir = this.dirs.get(controller);
    if (dir === undefined) {
      throw new CaveError("SANDBOX_CGROUP", `no cgroup v1 hierarchy is mounted for ${controller}`, {
        hint: `mount one (mount -t cgroup -o ${controller} cgroup /sys/fs/cgroup/${controller}) or leave the limit that needs it unset`,
      });
    }
    return dir;
  }

  create(limits: Limits): void {
    checkLimits(limits);
    const used = V1_ORDER.filter((c) => c !== "blkio" || limits.ioWeight !== undefined);
    // cpuacct and freezer are conveniences: used where mounted, never required.
    const dirs = unique(used.map((c) => (c === "cpuacct" || c === "freezer" ? this.dirs.get(c) : this.dirOf(c))));
    const made: string[] = [];
    try {
      for (const dir of dirs) {
        this.mkdirParent(dir.slice(0, dir.lastIndexOf("/")));
        this.mkdirLeaf(dir);
        made.push(dir);
      }
      this.writeLimits(limits);
    } catch (e) {
      this.undo(made);
      throw e;
    }
    this.joinDirs = dirs;
  }

  /** Removes what a failed create made, newest first. The first error is the one to report;
      an empty leftover that will not go is removed later by cleanupStale. */
  private undo(made: string[]): void {
    for (const dir of made.reverse()) {
      try {
        removeTree(this.fs, dir);
      } catch {
        // see above: not the error to report
      }
    }
  }

  release(): void {
    // v1 keeps nothing open
  }

  createChild(): void {
    // In each hierarchy the parent (the sandbox's leaf) exists; the child gets no limits.
    const dirs = unique(V1_ORDER.map((c) => this.dirs.get(c))).filter((d) => this.fs.exists(d.slice(0, d.lastIndexOf("/"))));
    const made: string[] = [];
    try {
      for (const dir of dirs) {
        this.mkdirLeaf(dir);
        made.push(dir);
      }
    } catch (e) {
      this.undo(made);
      throw e;
    }
    this.joinDirs = dirs;
  }

  attach(): void {
    const dirs = this.existingDirs();
    const missing = V1_REQUIRED.filter((c) => !dirs.includes(this.dirOf(c as V1Controller)));
    if (missing.length > 0) {
      throw new CaveError("SANDBOX_CGROUP", `the cgroup ${this.name} is gone (no ${missing.join(", ")} directory)`, {
        hint: "the sandbox was stopped or its cgroup removed: start it again",
      });
    }
    this.joinDirs = dirs;
  }

  join(pid: number): void {
    if (this.joinDirs.length === 0) {
      throw new CaveError("SANDBOX_CGROUP", `cannot join pid ${pid} to ${this.name}: the cgroup was not created`, {
        hint: "call create() before join()",
      });
    }
    // One write per hierarchy. The first move after a quiet spell waits for an RCU grace period
    // (cgroup_threadgroup_rwsem taking its slow path: 5–17 ms measured), the rest cost ~0.03 ms each.
    for (const dir of this.joinDirs) {
      const file = `${dir}/cgroup.procs`;
      try {
        this.fs.write(file, String(pid));
      } catch (e) {
        throw cgroupError(`write pid ${pid} to`, file, e, joinHint(errnoOf(e), pid));
      }
    }
  }

  usage(): Usage {
    const acct = this.dirs.get("cpuacct");
    const cpu = acct !== undefined && this.fs.exists(`${acct}/cpuacct.usage`) ? Number(this.read(`${acct}/cpuacct.usage`).trim()) / 1e9 : null;
    return {
      memoryBytes: Number(this.read(`${this.dirOf("memory")}/memory.usage_in_bytes`).trim()),
      pids: Number(this.read(`${this.dirOf("pids")}/pids.current`).trim()),
      cpuSeconds: cpu,
    };
  }

  oomKills(): number {
    return this.readOomKills();
  }

  oomKilled(): boolean {
    const mem = this.dirOf("memory");
    if (this.oomAtDestroy !== null && !this.fs.exists(mem)) return this.oomAtDestroy;
    return this.readOomKills() > 0;
  }

  killAll(): void {
    const dirs = this.existingDirs();
    if (dirs.length === 0) return;
    const freezer = this.dirs.get("freezer");
    const state = freezer === undefined ? undefined : `${freezer}/freezer.state`;
    if (state === undefined || !this.fs.exists(state)) {
      this.killEach(dirs);
      return;
    }
    // Frozen, the tasks cannot fork while we read cgroup.procs; the SIGKILLs land once thawed.
    this.write(state, "FROZEN");
    try {
      waitFor(this.fs, () => this.read(state).trim() === "FROZEN", 1000);
      this.killEach(dirs);
    } finally {
      this.write(state, "THAWED");
    }
  }

  destroy(): void {
    const dirs = this.existingDirs();
    if (dirs.length === 0) return;
    if (this.fs.exists(this.dirOf("memory"))) {
      try {
        this.oomAtDestroy = this.readOomKills() > 0;
      } catch {
        // Not a limit: without the count, oomKilled() after destroy() says the cgroup is gone.
      }
    }
    if (this.removeIfEmpty()) return;
    const left = this.existingDirs();
    this.killAll();
    const empty = waitFor(this.fs, () => this.killEach(left) === 0, EMPTY_WAIT_MS);
    if (!empty) {
      throw new CaveError(
        "SANDBOX_CGROUP",
        `processes ${this.pids(left).join(", ")} are still in ${this.name} ${EMPTY_WAIT_MS / 1000} s after SIGKILL`,
        { hint: "they are probably in uninterruptible sleep (D state); the cgroup is removed by a later cleanup of stale cgroups" },
      );
    }
    for (const dir of left) removeTree(this.fs, dir);
    this.joinDirs = [];
  }

  removeIfEmpty(): boolean {
    let gone = true;
    // Every hierarchy's, in V1_ORDER: a failed join can leave a process in only some of them.
    for (const dir of unique([...this.dirs.values()])) if (!removeIfUnused(this.fs, dir)) gone = false;
    if (gone) this.joinDirs = [];
    return gone;
  }

  /** The leaf directories that exist now, in V1_ORDER (what cleanupStale removes with destroy()). */
  existingDirs(): string[] {
    return unique([...this.dirs.values()]).filter((d) => this.fs.exists(d));
  }

  isEmpty(): boolean {
    return this.pids(this.existingDirs()).length === 0;
  }

  lastChangeMs(): number {
    return Math.max(...this.existingDirs().map((d) => this.fs.mtimeMs(d)));
  }

  private writeLimits(limits: Limits): void {
    const mem = this.dirOf("memory");
    this.set(mem, "memory.limit_in_bytes", limitValue(limits.memoryBytes, "-1"));
    const swap = limits.swapBytes ?? 0;
    // memsw bounds memory plus swap; it exists only with swap accounting (CONFIG_MEMCG_SWAP, swapaccount=1).
    if (this.fs.exists(`${mem}/memory.memsw.limit_in_bytes`)) {
      this.set(mem, "memory.memsw.limit_in_bytes", limitValue(limits.memoryBytes + swap, "-1"));
    } else if (swap > 0) {
      throw new CaveError("SANDBOX_CGROUP", `cannot limit swap to ${swap} bytes: ${mem}/memory.memsw.limit_in_bytes does not exist`, {
        hint: "boot the kernel with swap accounting (swapaccount=1), or set swap to 0",
      });
    } else if (hostHasSwap(this.fs)) {
      // A v1 memory cgroup with swappiness 0 never swaps out its pages.
      this.set(mem, "memory.swappiness", "0");
    }
    const cpu = this.dirOf("cpu");
    // The period first: the kernel checks the quota against the period in force.
    this.set(cpu, "cpu.cfs_period_us", String(CPU_PERIOD_US));
    this.set(cpu, "cpu.cfs_quota_us", limitValue(cpuQuotaUs(limits.cpus), "-1"));
    this.set(this.dirOf("pids"), "pids.max", limitValue(limits.pids));
    if (limits.ioWeight !== undefined) this.writeIoWeight(limits.ioWeight);
  }

  private writeIoWeight(weight: number): void {
    const dir = this.dirOf("blkio");
    // BFQ's weight has v2's meaning (default 100) up to 1000; CFQ's blkio.weight (before Linux 5.0) takes 10–1000.
    const [file, min] = this.fs.exists(`${dir}/blkio.bfq.weight`) ? ["blkio.bfq.weight", 1] : ["blkio.weight", 10];
    if (!this.fs.exists(`${dir}/${file}`)) {
      throw new CaveError("SANDBOX_CGROUP", `cannot set IO weight: ${dir} has neither blkio.bfq.weight nor blkio.weight`, {
        hint: "the block IO scheduler here has no proportional weights (use BFQ); leave the IO weight unset",
      });
    }
    if (weight < min || weight > 1000) {
      throw new CaveError("SANDBOX_CGROUP", `cannot set IO weight ${weight}: ${dir}/${file} takes ${min}–1000`, {
        hint: `use an IO weight from ${min} to 1000 on this cgroup v1 host`,
      });
    }
    this.set(dir, file, String(weight));
  }

  /** SIGKILLs every process in dirs (and their children); returns how many there were. */
  private killEach(dirs: readonly string[]): number {
    const pids = this.pids(dirs);
    for (const pid of pids) this.fs.kill(pid);
    return pids.length;
  }

  /** The union over hierarchies: a failed join can leave a process in only some of them. */
  private pids(dirs: readonly string[]): number[] {
    return unique(dirs.flatMap((d) => pidsIn(this.fs, d)));
  }

  private readOomKills(): number {
    const file = `${this.dirOf("memory")}/memory.oom_control`;
    const m = /^oom_kill (\d+)$/m.exec(this.read(file));
    if (!m?.[1]) throw new CaveError("SANDBOX_CGROUP", `${file} has no oom_kill line`, { hint: "cave needs Linux 4.13 or later" });
    return Number(m[1]);
  }

  private set(dir: string, file: string, value: string): void {
    const path = `${dir}/${file}`;
    try {
      this.fs.write(path, value);
    } catch (e) {
      const code = errnoOf(e);
      const hint =
        code === "EINVAL" || code === "EBUSY"
          ? `the kernel refused the value; check ${file} in the cgroups above ${dir} for a stricter limit`
          : undefined;
      throw cgroupError(`write "${value}" to`, path, e, hint);
    }
  }

  private mkdirParent(dir: string): void {
    if (this.fs.exists(dir)) return;
    try {
      this.fs.mkdir(dir);
    } catch (e) {
      // Another cave may create the shared parent at the same moment.
      if (errnoOf(e) !== "EEXIST") throw cgroupError("create", dir, e);
    }
  }

  private mkdirLeaf(dir: string): void {
    try {
      this.fs.mkdir(dir);
    } catch (e) {
      const hint =
        errnoOf(e) === "EEXIST" ? "a cgroup with this id exists: use a fresh id, or let cleanupStale remove leftovers of crashed runs" : undefined;
      throw cgroupError("create", dir, e, hint);
    }
  }

  private read(path: string): string {
    try {
      return this.fs.read(path);
    } catch (e) {
      throw cgroupError("read", path, e);
    }
  }

  private write(path: string, data: string): void {
    try {
      this.fs.write(path, data);
    } catch (e) {
      throw cgroupError(`write "${data}" to`, path, e);
    }
  }
}

function unique<T>(xs: readonly (T | undefined)[]): T[] {
  return [...new Set(xs.filter((x): x is T => x !== undefined))];
}
