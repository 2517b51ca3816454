// cgroup v2: one directory `<mount>/cave/cave-<pid>-<id>`, its controllers enabled through
// cgroup.subtree_control from the mount down; limits, OOM count and kill through its own files.
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

/** What cave enables below the mount, when offered; io is required only for ioWeight. */
export const V2_CONTROLLERS = ["memory", "pids", "cpu", "io"] as const;
export const V2_REQUIRED: readonly string[] = ["memory", "pids", "cpu"];

function words(text: string): string[] {
  return text.split(/\s+/).filter((w) => w !== "");
}

export class CgroupV2 implements CgroupManager {
  readonly version = 2 as const;
  readonly name: string;
  private readonly parent: string;
  private readonly dir: string;
  private fd = -1;
  private oomAtDestroy: boolean | null = null;

  constructor(
    private readonly fs: CgroupFs,
    private readonly mount: string,
    name: string,
  ) {
    this.name = name;
    this.parent = `${mount}/${CAVE_PARENT}`;
    this.dir = `${this.parent}/${name}`;
  }

  path(): string {
    return this.dir;
  }

  create(limits: Limits): void {
    checkLimits(limits);
    const required = limits.ioWeight === undefined ? V2_REQUIRED : [...V2_REQUIRED, "io"];
    this.enableControllers(this.mount, required);
    this.mkdir(this.parent, true);
    this.enableControllers(this.parent, required);
    this.mkdir(this.dir, false);
    try {
      this.writeLimits(limits);
    } catch (e) {
      try {
        removeTree(this.fs, this.dir);
      } catch {
        // The limit error is the one to report; an empty leftover is removed by cleanupStale.
      }
      throw e;
    }
  }

  release(): void {
    this.closeFd();
  }

  createChild(): void {
    // No controller is enabled below the sandbox's cgroup, so its init may stay where it is
    // (the no-internal-processes rule applies only with controllers enabled).
    this.mkdir(this.dir, false);
  }

  attach(): void {
    if (!this.fs.exists(`${this.dir}/cgroup.procs`)) {
      throw new CaveError("SANDBOX_CGROUP", `the cgroup ${this.name} is gone (${this.dir})`, {
        hint: "the sandbox was stopped or its cgroup removed: start it again",
      });
    }
  }

  join(pid: number): void {
    const file = `${this.dir}/cgroup.procs`;
    try {
      this.fs.write(file, String(pid));
    } catch (e) {
      throw cgroupError(`write pid ${pid} to`, file, e, joinHint(errnoOf(e), pid));
    }
  }

  v2DirFd(): number {
    if (this.fd < 0) {
      try {
        this.fd = this.fs.openDir(this.dir);
      } catch (e) {
        throw cgroupError("open", this.dir, e, "create() the cgroup before asking for its fd");
      }
    }
    return this.fd;
  }

  usage(): Usage {
    const cpu = /^usage_usec (\d+)$/m.exec(this.read(`${this.dir}/cpu.stat`))?.[1];
    return {
      memoryBytes: Number(this.read(`${this.dir}/memory.current`).trim()),
      pids: Number(this.read(`${this.dir}/pids.current`).trim()),
      cpuSeconds: cpu === undefined ? null : Number(cpu) / 1e6,
    };
  }

  oomKills(): number {
    return this.readOomKills();
  }

  oomKilled(): boolean {
    if (this.oomAtDestroy !== null && !this.fs.exists(this.dir)) return this.oomAtDestroy;
    return this.readOomKills() > 0;
  }

  killAll(): void {
    if (!this.fs.exists(this.dir)) return;
    const killFile = `${this.dir}/cgroup.kill`;
    if (this.fs.exists(killFile)) {
      // cgroup.kill (Linux 5.14+) also catches processes forked while the kill runs.
      this.write(killFile, "1");
      return;
    }
    const freezeFile = `${this.dir}/cgroup.freeze`;
    if (!this.fs.exists(freezeFile)) {
      for (const pid of pidsIn(this.fs, this.dir)) this.fs.kill(pid);
      return;
    }
    // Freezing first stops forks from outrunning the kill loop; SIGKILL still ends frozen tasks on v2.
    this.write(freezeFile, "1");
    try {
      waitFor(this.fs, () => this.eventsField("frozen") === 1, 1000);
      for (const pid of pidsIn(this.fs, this.dir)) this.fs.kill(pid);
    } finally {
      this.write(freezeFile, "0");
    }
  }

  destroy(): void {
    if (!this.fs.exists(this.dir)) {
      this.closeFd();
      return;
    }
    try {
      this.oomAtDestroy = this.readOomKills() > 0;
    } catch {
      // Not a limit: without memory.events, oomKilled() after destroy() says the cgroup is gone.
    }
    if (this.removeIfEmpty()) return;
    this.killAll();
    const hasKill = this.fs.exists(`${this.dir}/cgroup.kill`);
    const empty = waitFor(
      this.fs,
      () => {
        if (this.eventsField("populated") !== 1) return true;
        // Without cgroup.kill a process forked after the kill loop read cgroup.procs survives it.
        if (!hasKill) for (const pid of pidsIn(this.fs, this.dir)) this.fs.kill(pid);
        return false;
      },
      EMPTY_WAIT_MS,
    );
    if (!empty) {
      throw new CaveError(
        "SANDBOX_CGROUP",
        `processes ${pidsIn(this.fs, this.dir).join(", ")} are still in ${this.dir} ${EMPTY_WAIT_MS / 1000} s after SIGKILL`,
        { hint: "they are probably in uninterruptible sleep (D state); the cgroup is removed by a later cleanup of stale cgroups" },
      );
    }
    this.closeFd();
    removeTree(this.fs, this.dir);
  }

  removeIfEmpty(): boolean {
    // The fd goes first, as in destroy(): v2DirFd() opens it again if the cgroup stays.
    this.closeFd();
    return removeIfUnused(this.fs, this.dir);
  }

  /** The directories cleanupStale removes with destroy(). */
  existingDirs(): string[] {
    return this.fs.exists(this.dir) ? [this.dir] : [];
  }

  isEmpty(): boolean {
    return this.eventsField("populated") !== 1;
  }

  lastChangeMs(): number {
    return this.fs.mtimeMs(this.dir);
  }

  private enableControllers(dir: string, required: readonly string[]): void {
    const available = words(this.read(`${dir}/cgroup.controllers`));
    for (const c of required) {
      if (!available.includes(c)) {
        throw new CaveError(
          "SANDBOX_CGROUP",
          `the cgroup v2 ${c} controller is not available in ${dir}/cgroup.controllers (it lists: ${available.join(" ") || "nothing"})`,
          {
            hint:
              dir === this.mount
                ? `the ${c} controller is bound to a cgroup v1 hierarchy or disabled on the kernel command line (cgroup_disable=)`
                : `enable ${c} in the cgroup.subtree_control of every cgroup above ${dir}`,
          },
        );
      }
    }
    const enabled = words(this.read(`${dir}/cgroup.subtree_control`));
    const file = `${dir}/cgroup.subtree_control`;
    for (const c of V2_CONTROLLERS) {
      if (!available.includes(c) || enabled.includes(c)) continue;
      try {
        this.fs.write(file, `+${c}`);
      } catch (e) {
        const hint =
          errnoOf(e) === "EBUSY"
            ? `${dir} has processes of its own, and a cgroup with processes cannot enable controllers for children; move them into a child cgroup`
            : undefined;
        throw cgroupError(`write "+${c}" to`, file, e, hint);
      }
    }
  }

  private writeLimits(limits: Limits): void {
    this.set("memory.max", limitValue(limits.memoryBytes));
    const swap = limits.swapBytes ?? 0;
    if (this.fs.exists(`${this.dir}/memory.swap.max`)) {
      this.set("memory.swap.max", String(swap));
    } else if (swap > 0 || hostHasSwap(this.fs)) {
      // Without memory.swap.max nothing bounds swap, and v2 has no per-cgroup swappiness to turn it off.
      throw new CaveError("SANDBOX_CGROUP", `cannot limit swap: ${this.dir}/memory.swap.max does not exist and the host has swap`, {
        hint: "boot the kernel with swap accounting (swapaccount=1), or turn swap off on the host (swapoff -a)",
      });
    }
    this.set("pids.max", limitValue(limits.pids));
    this.set("cpu.max", `${limitValue(cpuQuotaUs(limits.cpus))} ${CPU_PERIOD_US}`);
    if (limits.ioWeight !== undefined) this.writeIoWeight(limits.ioWeight);
  }

  private writeIoWeight(weight: number): void {
    if (this.fs.exists(`${this.dir}/io.weight`)) {
      this.set("io.weight", String(weight));
    } else if (this.fs.exists(`${this.dir}/io.bfq.weight`)) {
      if (weight > 1000) {
        throw new CaveError("SANDBOX_CGROUP", `cannot set IO weight ${weight}: BFQ's ${this.dir}/io.bfq.weight takes 1–1000`, {
          hint: "use an IO weight from 1 to 1000 on this host",
        });
      }
      this.set("io.bfq.weight", String(weight));
    } else {
      throw new CaveError("SANDBOX_CGROUP", `cannot set IO weight: ${this.dir} has neither io.weight nor io.bfq.weight`, {
        hint: "the kernel has no proportional IO control here (needs the io cost model or the BFQ scheduler); leave the IO weight unset",
      });
    }
  }

  private set(file: string, value: string): void {
    const path = `${this.dir}/${file}`;
    try {
      this.fs.write(path, value);
    } catch (e) {
      const code = errnoOf(e);
      const hint =
        code === "ENOENT"
          ? `the controller for ${file} is not enabled in ${this.parent}/cgroup.subtree_control`
          : code === "EINVAL" || code === "EBUSY"
            ? `the kernel refused the value; check ${file} in ${this.parent} and above for a stricter limit`
            : undefined;
      throw cgroupError(`write "${value}" to`, path, e, hint);
    }
  }

  private mkdir(dir: string, mayExist: boolean): void {
    if (mayExist && this.fs.exists(dir)) return;
    try {
      this.fs.mkdir(dir);
    } catch (e) {
      const code = errnoOf(e);
      // Another cave may create the shared parent at the same moment.
      if (code === "EEXIST" && mayExist) return;
      throw cgroupError(
        "create",
        dir,
        e,
        code === "EEXIST" ? "a cgroup with this id exists: use a fresh id, or let cleanupStale remove leftovers of crashed runs" : undefined,
      );
    }
  }

  private readOomKills(): number {
    const file = `${this.dir}/memory.events`;
    const m = /^oom_kill (\d+)$/m.exec(this.read(file));
    if (!m?.[1]) throw new CaveError("SANDBOX_CGROUP", `${file} has no oom_kill line`, { hint: "cave needs Linux 4.13 or later" });
    return Number(m[1]);
  }

  /** A field of cgroup.events (populated, frozen); 0 once the cgroup is gone. */
  private eventsField(field: "populated" | "frozen"): number {
    let text: string;
    try {
      text = this.fs.read(`${this.dir}/cgroup.events`);
    } catch (e) {
      if (errnoOf(e) === "ENOENT") return 0;
      throw cgroupError("read", `${this.dir}/cgroup.events`, e);
    }
    const m = new RegExp(`^${field} (\\d+)$`, "m").exec(text);
    return m?.[1] ? Number(m[1]) : 0;
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

  private closeFd(): void {
    if (this.fd < 0) return;
    const fd = this.fd;
    this.fd = -1;
    this.fs.close(fd);
  }
}
