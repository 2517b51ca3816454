// Exact cgroupfs writes of the v1 and v2 managers, detection and stale cleanup, against a recording
// fake CgroupFs: the one fake the conventions allow, for the cgroup version a machine lacks.
import { describe, expect, test } from "bun:test";
import { CaveError } from "../../../src/core/errors.ts";
import { boxCgroupManager, cleanupStale, createCgroupManager, detectCgroups, execCgroupManager, listBoxCgroups, STALE_EMPTY_MS } from "../../../src/sandbox/cgroups/index.ts";
import type { CgroupFs, Limits } from "../../../src/sandbox/cgroups/types.ts";
import { CgroupV1, type V1Hierarchy } from "../../../src/sandbox/cgroups/v1.ts";
import { CgroupV2 } from "../../../src/sandbox/cgroups/v2.ts";

const MiB = 1024 * 1024;
const LIMITS: Limits = { memoryBytes: 64 * MiB, cpus: 1.5, pids: 20 };
const NO_SWAP = "Filename\t\t\t\tType\t\tSize\t\tUsed\t\tPriority\n";
const WITH_SWAP = `${NO_SWAP}/dev/vda2                               partition\t1048572\t\t0\t\t-2\n`;

function errno(code: string, path: string): Error {
  return Object.assign(new Error(`${code}: ${path}`), { code });
}
const dirname = (p: string) => p.slice(0, p.lastIndexOf("/"));
const basename = (p: string) => p.slice(p.lastIndexOf("/") + 1);

/**
 * An in-memory cgroupfs that logs every change. It imitates the kernel only where the managers
 * depend on it: mkdir makes the control files, kill empties cgroup.procs and cgroup.events,
 * cgroup.kill kills the subtree, rmdir refuses a cgroup with children or processes.
 */
class RecordingFs implements CgroupFs {
  readonly files = new Map<string, string>();
  readonly dirs = new Set<string>();
  readonly log: string[] = [];
  readonly failWrites = new Map<string, string>();
  readonly readOnly = new Set<string>();
  readonly mtimes = new Map<string, number>();

  constructor(
    seed: Record<string, string>,
    dirs: string[],
    private readonly controlFiles: (dir: string) => Record<string, string> = () => ({}),
  ) {
    for (const d of dirs) this.dirs.add(d);
    for (const [p, c] of Object.entries(seed)) this.files.set(p, c);
  }

  read(path: string): string {
    const text = this.files.get(path);
    if (text === undefined) throw errno("ENOENT", path);
    return text;
  }
  write(path: string, data: string): void {
    this.log.push(`write ${path} ${data}`);
    const fail = this.failWrites.get(path);
    if (fail) throw errno(fail, path);
    if (!this.files.has(path)) throw errno("ENOENT", path);
    this.files.set(path, data);
    if (basename(path) === "cgroup.kill") for (const pid of this.pidsUnder(dirname(path))) this.kill(pid, false);
  }
  mkdir(path: string): void {
    this.log.push(`mkdir ${path}`);
    if (this.exists(path)) throw errno("EEXIST", path);
    if (!this.dirs.has(dirname(path))) throw errno("ENOENT", path);
    this.dirs.add(path);
    for (const [f, c] of Object.entries(this.controlFiles(path))) this.files.set(`${path}/${f}`, c);
  }
  rmdir(path: string): void {
    this.log.push(`rmdir ${path}`);
    if (!this.dirs.has(path)) throw errno("ENOENT", path);
    if (this.subdirs(path).length > 0 || this.pidsUnder(path).length > 0) throw errno("EBUSY", path);
    this.dirs.delete(path);
    for (const f of [...this.files.keys()]) if (dirname(f) === path) this.files.delete(f);
  }
  exists(path: string): boolean {
    return this.files.has(path) || this.dirs.has(path);
  }
  subdirs(dir: string): string[] {
    if (!this.dirs.has(dir)) throw errno("ENOENT", dir);
    return [...this.dirs].filter((d) => dirname(d) === dir).map(basename);
  }
  writable(dir: string): boolean {
    return !this.readOnly.has(dir);
  }
  mtimeMs(path: string): number {
    return this.mtimes.get(path) ?? 0;
  }
  openDir(path: string): number {
    this.log.push(`open ${path}`);
    return 42;
  }
  close(fd: number): void {
    this.log.push(`close ${fd}`);
  }
  kill(pid: number, log = true): void {
    if (log) this.log.push(`kill ${pid}`);
    for (const [p, text] of this.files) {
      if (basename(p) !== "cgroup.procs") continue;
      this.files.set(p, text.split("\n").filter((l) => l !== "" && l !== String(pid)).map((l) => `${l}\n`).join(""));
    }
    for (const p of this.files.keys()) {
      if (basename(p) === "cgroup.events") this.files.set(p, `populated ${this.pidsUnder(dirname(p)).length > 0 ? 1 : 0}\nfrozen 0\n`);
    }
  }
  sleep(): void {}

  /** Changes only: the log without reads. */
  writesTo(prefix: string): string[] {
    return this.log.filter((l) => l.split(" ")[1]?.startsWith(prefix));
  }
  private pidsUnder(dir: string): number[] {
    const out: number[] = [];
    for (const [p, text] of this.files) {
      if (basename(p) === "cgroup.procs" && (p === `${dir}/cgroup.procs` || p.startsWith(`${dir}/`))) {
        out.push(...text.split("\n").filter((l) => l !== "").map(Number));
      }
    }
    return out;
  }
}

// ---- cgroup v2 -------------------------------------------------------------------------------

const V2 = "/sys/fs/cgroup";
const V2_LEAF = `${V2}/cave/cave-1-a`;
const V2_MOUNTINFO = `35 24 0:30 / ${V2} rw,nosuid,nodev,noexec,relatime shared:9 - cgroup2 cgroup2 rw,nsdelegate,memory_recursiveprot\n`;

function v2Files(): Record<string, string> {
  return {
    "cgroup.controllers": "cpu io memory pids",
    "cgroup.subtree_control": "",
    "cgroup.procs": "",
    "cgroup.events": "populated 0\nfrozen 0\n",
    "cgroup.kill": "",
    "cgroup.freeze": "0\n",
    "memory.max": "max\n",
    "memory.swap.max": "max\n",
    "memory.events": "low 0\nhigh 0\nmax 0\noom 0\noom_kill 0\noom_group_kill 0\n",
    "pids.max": "max\n",
    "cpu.max": "max 100000\n",
    "io.weight": "default 100\n",
  };
}

function v2Host(opts: { swaps?: string; drop?: string[] } = {}): RecordingFs {
  const template = () => {
    const files = v2Files();
    for (const f of opts.drop ?? []) delete files[f];
    return files;
  };
  return new RecordingFs(
    {
      "/proc/self/mountinfo": V2_MOUNTINFO,
      "/proc/swaps": opts.swaps ?? NO_SWAP,
      [`${V2}/cgroup.controllers`]: "cpuset cpu io memory hugetlb pids rdma misc\n",
      [`${V2}/cgroup.subtree_control`]: "cpu memory\n",
      [`${V2}/cgroup.procs`]: "1\n",
    },
    [V2, "/proc", "/proc/self"],
    template,
  );
}

describe("cgroup v2 manager", () => {
  test("create enables the missing controllers from the mount down, then writes each limit once", () => {
    const fs = v2Host();
    new CgroupV2(fs, V2, "cave-1-a").create(LIMITS);
    expect(fs.log).toEqual([
      `write ${V2}/cgroup.subtree_control +pids`,
      `write ${V2}/cgroup.subtree_control +io`,
      `mkdir ${V2}/cave`,
      `write ${V2}/cave/cgroup.subtree_control +memory`,
      `write ${V2}/cave/cgroup.subtree_control +pids`,
      `write ${V2}/cave/cgroup.subtree_control +cpu`,
      `write ${V2}/cave/cgroup.subtree_control +io`,
      `mkdir ${V2_LEAF}`,
      `write ${V2_LEAF}/memory.max 67108864`,
      `write ${V2_LEAF}/memory.swap.max 0`,
      `write ${V2_LEAF}/pids.max 20`,
      `write ${V2_LEAF}/cpu.max 150000 100000`,
    ]);
  });

  test("a lifted limit (none, Infinity) is written as max", () => {
    const fs = v2Host();
    new CgroupV2(fs, V2, "cave-1-a").create({ memoryBytes: Number.POSITIVE_INFINITY, cpus: Number.POSITIVE_INFINITY, pids: Number.POSITIVE_INFINITY });
    expect(fs.log.filter((l) => l.startsWith(`write ${V2_LEAF}/`))).toEqual([
      `write ${V2_LEAF}/memory.max max`,
      `write ${V2_LEAF}/memory.swap.max 0`,
      `write ${V2_LEAF}/pids.max max`,
      `write ${V2_LEAF}/cpu.max max 100000`,
    ]);
  });

  test("an existing parent with every controller enabled gets no subtree_control writes", () => {
    const fs = v2Host();
    new CgroupV2(fs, V2, "cave-1-a").create(LIMITS);
    fs.files.set(`${V2}/cgroup.subtree_control`, "cpu io memory pids\n");
    fs.files.set(`${V2}/cave/cgroup.subtree_control`, "cpu io memory pids\n");
    fs.log.length = 0;
    new CgroupV2(fs, V2, "cave-1-b").create(LIMITS);
    expect(fs.log.filter((l) => !l.includes("cave-1-b/"))).toEqual([`mkdir ${V2}/cave/cave-1-b`]);
  });

  test("cpus become the quota of a 100000 µs period: 0.2 → 20000, 0.01 → 1000, 3 → 300000", () => {
    const quota = (cpus: number) => {
      const fs = v2Host();
      new CgroupV2(fs, V2, "cave-1-a").create({ ...LIMITS, cpus });
      return fs.log.filter((l) => l.includes("/cpu.max "));
    };
    expect(quota(0.2)).toEqual([`write ${V2_LEAF}/cpu.max 20000 100000`]);
    expect(quota(0.01)).toEqual([`write ${V2_LEAF}/cpu.max 1000 100000`]);
    expect(quota(3)).toEqual([`write ${V2_LEAF}/cpu.max 300000 100000`]);
  });

  test("swapBytes is written as memory.swap.max next to memory.max", () => {
    const fs = v2Host();
    new CgroupV2(fs, V2, "cave-1-a").create({ ...LIMITS, memoryBytes: 128 * MiB, swapBytes: 32 * MiB });
    expect(fs.log.filter((l) => l.includes("/memory."))).toEqual([`write ${V2_LEAF}/memory.max 134217728`, `write ${V2_LEAF}/memory.swap.max 33554432`]);
  });

  test("ioWeight is written to io.weight", () => {
    const fs = v2Host();
    new CgroupV2(fs, V2, "cave-1-a").create({ ...LIMITS, ioWeight: 250 });
    expect(fs.log.at(-1)).toBe(`write ${V2_LEAF}/io.weight 250`);
  });

  test("without memory.swap.max a host without swap is fine, a host with swap is refused and the cgroup removed", () => {
    const noSwap = v2Host({ drop: ["memory.swap.max"] });
    new CgroupV2(noSwap, V2, "cave-1-a").create(LIMITS);
    expect(noSwap.log.filter((l) => l.includes("swap"))).toEqual([]);

    const fs = v2Host({ drop: ["memory.swap.max"], swaps: WITH_SWAP });
    const m = new CgroupV2(fs, V2, "cave-1-a");
    expect(() => m.create(LIMITS)).toThrow(`cannot limit swap: ${V2_LEAF}/memory.swap.max does not exist and the host has swap`);
    expect(fs.log.at(-1)).toBe(`rmdir ${V2_LEAF}`);
    expect(fs.exists(V2_LEAF)).toBe(false);
  });

  test("a refused limit fails closed with SANDBOX_CGROUP naming the file and the errno, and removes the cgroup", () => {
    const fs = v2Host();
    fs.failWrites.set(`${V2_LEAF}/pids.max`, "EINVAL");
    let err: unknown;
    try {
      new CgroupV2(fs, V2, "cave-1-a").create(LIMITS);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(CaveError);
    expect((err as CaveError).code).toBe("SANDBOX_CGROUP");
    expect((err as CaveError).message).toBe(`cannot write "20" to ${V2_LEAF}/pids.max: EINVAL (EINVAL: ${V2_LEAF}/pids.max)`);
    expect((err as CaveError).hint).toBe(`the kernel refused the value; check pids.max in ${V2}/cave and above for a stricter limit`);
    expect(fs.log.slice(-2)).toEqual([`write ${V2_LEAF}/pids.max 20`, `rmdir ${V2_LEAF}`]);
  });

  test("EBUSY from subtree_control is explained by the no-internal-processes rule", () => {
    const fs = v2Host();
    fs.failWrites.set(`${V2}/cgroup.subtree_control`, "EBUSY");
    expect(() => new CgroupV2(fs, V2, "cave-1-a").create(LIMITS)).toThrow(
      expect.objectContaining({
        code: "SANDBOX_CGROUP",
        hint: `${V2} has processes of its own, and a cgroup with processes cannot enable controllers for children; move them into a child cgroup`,
      }),
    );
  });

  test("a missing required controller is refused before anything is created", () => {
    const fs = v2Host();
    fs.files.set(`${V2}/cgroup.controllers`, "memory pids\n");
    expect(() => new CgroupV2(fs, V2, "cave-1-a").create(LIMITS)).toThrow(
      `the cgroup v2 cpu controller is not available in ${V2}/cgroup.controllers (it lists: memory pids)`,
    );
    expect(fs.log).toEqual([]);
  });

  test("join writes the pid to the cgroup's cgroup.procs", () => {
    const fs = v2Host();
    const m = new CgroupV2(fs, V2, "cave-1-a");
    m.create(LIMITS);
    fs.log.length = 0;
    m.join(4242);
    expect(fs.log).toEqual([`write ${V2_LEAF}/cgroup.procs 4242`]);
  });

  test("v2DirFd opens the cgroup directory once, and destroy closes it before removing the directory (an empty one without a kill)", () => {
    const fs = v2Host();
    const m = new CgroupV2(fs, V2, "cave-1-a");
    m.create(LIMITS);
    fs.log.length = 0;
    expect(m.v2DirFd()).toBe(42);
    expect(m.v2DirFd()).toBe(42);
    m.destroy();
    expect(fs.log).toEqual([`open ${V2_LEAF}`, "close 42", `rmdir ${V2_LEAF}`]);
  });

  test("destroy of a busy cgroup (rmdir: EBUSY) kills with cgroup.kill, waits for populated 0, removes child cgroups first; a second destroy does nothing", () => {
    const fs = v2Host();
    const m = new CgroupV2(fs, V2, "cave-1-a");
    m.create(LIMITS);
    fs.mkdir(`${V2_LEAF}/inner`);
    fs.files.set(`${V2_LEAF}/cgroup.procs`, "100\n");
    fs.files.set(`${V2_LEAF}/inner/cgroup.procs`, "101\n");
    fs.files.set(`${V2_LEAF}/cgroup.events`, "populated 1\nfrozen 0\n");
    fs.log.length = 0;
    m.destroy();
    expect(fs.log).toEqual([`rmdir ${V2_LEAF}`, `write ${V2_LEAF}/cgroup.kill 1`, `rmdir ${V2_LEAF}/inner`, `rmdir ${V2_LEAF}`]);
    expect(fs.exists(V2_LEAF)).toBe(false);
    m.destroy();
    expect(fs.log.length).toBe(4);
  });

  test("without cgroup.kill, killAll freezes, SIGKILLs each pid of the subtree and thaws", () => {
    const fs = v2Host({ drop: ["cgroup.kill"] });
    const m = new CgroupV2(fs, V2, "cave-1-a");
    m.create(LIMITS);
    fs.mkdir(`${V2_LEAF}/inner`);
    fs.files.set(`${V2_LEAF}/cgroup.procs`, "100\n");
    fs.files.set(`${V2_LEAF}/inner/cgroup.procs`, "101\n");
    fs.files.set(`${V2_LEAF}/cgroup.events`, "populated 1\nfrozen 1\n");
    fs.log.length = 0;
    m.killAll();
    expect(fs.log).toEqual([`write ${V2_LEAF}/cgroup.freeze 1`, "kill 100", "kill 101", `write ${V2_LEAF}/cgroup.freeze 0`]);
  });

  test("oomKilled reads oom_kill from memory.events and still answers after destroy", () => {
    const fs = v2Host();
    const m = new CgroupV2(fs, V2, "cave-1-a");
    m.create(LIMITS);
    expect(m.oomKilled()).toBe(false);
    fs.files.set(`${V2_LEAF}/memory.events`, "low 0\nhigh 0\nmax 3\noom 1\noom_kill 1\noom_group_kill 0\n");
    expect(m.oomKilled()).toBe(true);
    m.destroy();
    expect(m.oomKilled()).toBe(true);
  });

  test("limits outside their ranges are refused before any write", () => {
    const fs = v2Host();
    const m = new CgroupV2(fs, V2, "cave-1-a");
    expect(() => m.create({ ...LIMITS, cpus: 0.001 })).toThrow("invalid cgroup limit cpus=0.001: between 0.01 and 1024");
    expect(() => m.create({ ...LIMITS, pids: 0 })).toThrow("invalid cgroup limit pids=0: a positive whole number");
    expect(() => m.create({ ...LIMITS, memoryBytes: 1.5 })).toThrow("invalid cgroup limit memoryBytes=1.5: a positive whole number of bytes");
    expect(() => m.create({ ...LIMITS, ioWeight: 10001 })).toThrow("invalid cgroup limit ioWeight=10001: a whole number from 1 to 10000");
    expect(fs.log).toEqual([]);
  });
});

// ---- cgroup v1 -------------------------------------------------------------------------------

const CG = "/sys/fs/cgroup";
const V1_MOUNTINFO = [
  `31 23 0:28 / ${CG} rw,relatime - tmpfs tmpfs rw,mode=755`,
  `32 31 0:29 / ${CG}/cpu rw,relatime - cgroup cgroup rw,cpu`,
  `33 31 0:30 / ${CG}/cpuacct rw,relatime - cgroup cgroup rw,cpuacct`,
  `34 31 0:31 / ${CG}/cpuset rw,relatime - cgroup cgroup rw,cpuset`,
  `35 31 0:32 / ${CG}/memory rw,relatime - cgroup cgroup rw,memory`,
  `37 31 0:34 / ${CG}/freezer rw,relatime - cgroup cgroup rw,freezer`,
  `38 31 0:35 / ${CG}/blkio rw,relatime - cgroup cgroup rw,blkio`,
  `39 31 0:36 / ${CG}/pids rw,relatime - cgroup cgroup rw,pids`,
  `40 31 0:37 / ${CG}/systemd rw,relatime - cgroup cgroup rw,name=systemd`,
  `41 31 0:38 / ${CG}/unified rw,relatime - cgroup2 cgroup2 rw`,
  "",
].join("\n");

const V1_FILES: Record<string, Record<string, string>> = {
  memory: {
    "memory.limit_in_bytes": "9223372036854771712\n",
    "memory.memsw.limit_in_bytes": "9223372036854771712\n",
    "memory.swappiness": "60\n",
    "memory.oom_control": "oom_kill_disable 0\nunder_oom 0\noom_kill 0\n",
  },
  cpu: { "cpu.cfs_period_us": "100000\n", "cpu.cfs_quota_us": "-1\n" },
  cpuacct: { "cpuacct.usage": "0\n" },
  pids: { "pids.max": "max\n" },
  freezer: { "freezer.state": "THAWED\n" },
  blkio: { "blkio.bfq.weight": "default 100\n" },
};

function v1Host(opts: { mountinfo?: string; swaps?: string; drop?: string[] } = {}): RecordingFs {
  const mountinfo = opts.mountinfo ?? V1_MOUNTINFO;
  const template = (dir: string) => {
    const mount = dir.split("/")[4] ?? "";
    const files: Record<string, string> = { "cgroup.procs": "" };
    for (const ctrl of mount.split(",")) Object.assign(files, V1_FILES[ctrl] ?? {});
    for (const f of opts.drop ?? []) delete files[f];
    return files;
  };
  const mounts = [...mountinfo.matchAll(/ (\S+) rw,relatime - cgroup2? /g)].map((m) => m[1] ?? "");
  return new RecordingFs(
    { "/proc/self/mountinfo": mountinfo, "/proc/swaps": opts.swaps ?? NO_SWAP, [`${CG}/unified/cgroup.controllers`]: "hugetlb\n" },
    [CG, ...mounts, "/proc", "/proc/self"],
    template,
  );
}

const HIERARCHIES: V1Hierarchy[] = ["memory", "cpu", "cpuacct", "pids", "freezer", "blkio", "cpuset"].map((c) => ({ mount: `${CG}/${c}`, controllers: [c] }));
const leaf = (ctrl: string, name = "cave-1-a") => `${CG}/${ctrl}/cave/${name}`;
/** removeIfEmpty's rmdir of the leaf in every hierarchy, in the manager's order. */
const TRY_ALL = (name = "cave-1-a") => ["memory", "cpu", "cpuacct", "pids", "blkio", "freezer"].map((c) => `rmdir ${leaf(c, name)}`);

describe("cgroup v1 manager", () => {
  test("create makes one leaf per hierarchy, then writes memory, memsw, the cfs period before the quota, and pids.max", () => {
    const fs = v1Host();
    const m = new CgroupV1(fs, HIERARCHIES, "cave-1-a");
    m.create(LIMITS);
    expect(fs.log).toEqual([
      `mkdir ${CG}/memory/cave`,
      `mkdir ${leaf("memory")}`,
      `mkdir ${CG}/cpu/cave`,
      `mkdir ${leaf("cpu")}`,
      `mkdir ${CG}/cpuacct/cave`,
      `mkdir ${leaf("cpuacct")}`,
      `mkdir ${CG}/pids/cave`,
      `mkdir ${leaf("pids")}`,
      `mkdir ${CG}/freezer/cave`,
      `mkdir ${leaf("freezer")}`,
      `write ${leaf("memory")}/memory.limit_in_bytes 67108864`,
      `write ${leaf("memory")}/memory.memsw.limit_in_bytes 67108864`,
      `write ${leaf("cpu")}/cpu.cfs_period_us 100000`,
      `write ${leaf("cpu")}/cpu.cfs_quota_us 150000`,
      `write ${leaf("pids")}/pids.max 20`,
    ]);
    expect(m.path()).toBe(leaf("memory"));
  });

  test("v1: a lifted limit is -1 for memory and the cpu quota, max for pids", () => {
    const fs = v1Host();
    new CgroupV1(fs, HIERARCHIES, "cave-1-a").create({ memoryBytes: Number.POSITIVE_INFINITY, cpus: Number.POSITIVE_INFINITY, pids: Number.POSITIVE_INFINITY });
    expect(fs.log.filter((l) => l.startsWith("write "))).toEqual([
      `write ${leaf("memory")}/memory.limit_in_bytes -1`,
      `write ${leaf("memory")}/memory.memsw.limit_in_bytes -1`,
      `write ${leaf("cpu")}/cpu.cfs_period_us 100000`,
      `write ${leaf("cpu")}/cpu.cfs_quota_us -1`,
      `write ${leaf("pids")}/pids.max max`,
    ]);
  });

  test("co-mounted cpu,cpuacct share one leaf directory", () => {
    const mountinfo = V1_MOUNTINFO.replace(`${CG}/cpu rw,relatime - cgroup cgroup rw,cpu`, `${CG}/cpu,cpuacct rw,relatime - cgroup cgroup rw,cpu,cpuacct`).replace(
      /^33 .*\n/m,
      "",
    );
    const fs = v1Host({ mountinfo });
    const m = createCgroupManager("a", fs);
    expect(m).toBeInstanceOf(CgroupV1);
    m?.create({ ...LIMITS, cpus: 0.2 });
    const name = `cave-${process.pid}-a`;
    expect(fs.log.filter((l) => l.includes("cpu"))).toEqual([
      `mkdir ${CG}/cpu,cpuacct/cave`,
      `mkdir ${CG}/cpu,cpuacct/cave/${name}`,
      `write ${CG}/cpu,cpuacct/cave/${name}/cpu.cfs_period_us 100000`,
      `write ${CG}/cpu,cpuacct/cave/${name}/cpu.cfs_quota_us 20000`,
    ]);
  });

  test("memsw is memory plus swap when swapBytes is set", () => {
    const fs = v1Host();
    new CgroupV1(fs, HIERARCHIES, "cave-1-a").create({ ...LIMITS, swapBytes: 32 * MiB });
    expect(fs.log.filter((l) => l.includes("/memory."))).toEqual([
      `write ${leaf("memory")}/memory.limit_in_bytes 67108864`,
      `write ${leaf("memory")}/memory.memsw.limit_in_bytes 100663296`,
    ]);
  });

  test("without memsw a host with swap gets memory.swappiness 0, and a swap limit is refused", () => {
    const fs = v1Host({ drop: ["memory.memsw.limit_in_bytes"], swaps: WITH_SWAP });
    new CgroupV1(fs, HIERARCHIES, "cave-1-a").create(LIMITS);
    expect(fs.log.filter((l) => l.includes("/memory."))).toEqual([`write ${leaf("memory")}/memory.limit_in_bytes 67108864`, `write ${leaf("memory")}/memory.swappiness 0`]);

    const refused = v1Host({ drop: ["memory.memsw.limit_in_bytes"] });
    expect(() => new CgroupV1(refused, HIERARCHIES, "cave-1-a").create({ ...LIMITS, swapBytes: MiB })).toThrow(
      `cannot limit swap to 1048576 bytes: ${leaf("memory")}/memory.memsw.limit_in_bytes does not exist`,
    );
    expect(["memory", "cpu", "cpuacct", "pids", "freezer"].filter((c) => refused.exists(leaf(c)))).toEqual([]);
  });

  test("ioWeight adds a blkio leaf with blkio.bfq.weight; above 1000 it is refused", () => {
    const fs = v1Host();
    new CgroupV1(fs, HIERARCHIES, "cave-1-a").create({ ...LIMITS, ioWeight: 300 });
    expect(fs.log.filter((l) => l.includes("blkio"))).toEqual([`mkdir ${CG}/blkio/cave`, `mkdir ${leaf("blkio")}`, `write ${leaf("blkio")}/blkio.bfq.weight 300`]);
    expect(() => new CgroupV1(v1Host(), HIERARCHIES, "cave-1-b").create({ ...LIMITS, ioWeight: 5000 })).toThrow(
      `cannot set IO weight 5000: ${leaf("blkio", "cave-1-b")}/blkio.bfq.weight takes 1–1000`,
    );
  });

  test("a refused cfs quota fails closed and removes every leaf made so far", () => {
    const fs = v1Host();
    fs.failWrites.set(`${leaf("cpu")}/cpu.cfs_quota_us`, "EINVAL");
    expect(() => new CgroupV1(fs, HIERARCHIES, "cave-1-a").create(LIMITS)).toThrow(`cannot write "150000" to ${leaf("cpu")}/cpu.cfs_quota_us: EINVAL`);
    expect(fs.log.filter((l) => l.startsWith("rmdir"))).toEqual(
      ["freezer", "pids", "cpuacct", "cpu", "memory"].map((c) => `rmdir ${leaf(c)}`),
    );
  });

  test("join writes the pid to cgroup.procs in every hierarchy, in order; before create it is an error", () => {
    const fs = v1Host();
    const m = new CgroupV1(fs, HIERARCHIES, "cave-1-a");
    expect(() => m.join(7)).toThrow("cannot join pid 7 to cave-1-a: the cgroup was not created");
    m.create(LIMITS);
    fs.log.length = 0;
    m.join(4242);
    expect(fs.log).toEqual(["memory", "cpu", "cpuacct", "pids", "freezer"].map((c) => `write ${leaf(c)}/cgroup.procs 4242`));
  });

  test("destroy of a busy cgroup freezes, SIGKILLs each pid once, thaws, then removes the memory, cpu, cpuacct, pids and freezer leaves in that order", () => {
    const fs = v1Host();
    const m = new CgroupV1(fs, HIERARCHIES, "cave-1-a");
    m.create(LIMITS);
    for (const c of ["memory", "cpu", "cpuacct", "pids", "freezer"]) fs.files.set(`${leaf(c)}/cgroup.procs`, "300\n301\n");
    fs.log.length = 0;
    m.destroy();
    const leaves = ["memory", "cpu", "cpuacct", "pids", "freezer"].map((c) => `rmdir ${leaf(c)}`);
    expect(fs.log).toEqual([
      // the one-rmdir-each try in every hierarchy (blkio's leaf was never made: ENOENT), all busy
      ...TRY_ALL(),
      `write ${leaf("freezer")}/freezer.state FROZEN`,
      "kill 300",
      "kill 301",
      `write ${leaf("freezer")}/freezer.state THAWED`,
      ...leaves,
    ]);
    m.destroy();
    expect(fs.log.length).toBe(15);
  });

  test("destroy of an empty cgroup is one rmdir per leaf: no freezer, no kill, no read of cgroup.procs", () => {
    const fs = v1Host();
    const m = new CgroupV1(fs, HIERARCHIES, "cave-1-a");
    m.create(LIMITS);
    fs.log.length = 0;
    m.destroy();
    expect(fs.log).toEqual(TRY_ALL());
    for (const c of ["memory", "cpu", "cpuacct", "pids", "freezer"]) expect(fs.exists(leaf(c))).toBe(false);
  });

  test("oomKilled reads the oom_kill line of memory.oom_control", () => {
    const fs = v1Host();
    const m = new CgroupV1(fs, HIERARCHIES, "cave-1-a");
    m.create(LIMITS);
    expect(m.oomKilled()).toBe(false);
    fs.files.set(`${leaf("memory")}/memory.oom_control`, "oom_kill_disable 0\nunder_oom 0\noom_kill 2\n");
    expect(m.oomKilled()).toBe(true);
  });
});

// ---- detection -------------------------------------------------------------------------------

describe("detectCgroups", () => {
  test("a hybrid host whose cgroup2 mount has no controllers uses v1 and says why", () => {
    expect(detectCgroups(v1Host())).toEqual({ version: 1, reason: `cgroup2 at ${CG}/unified lacks memory, pids, cpu (it offers: hugetlb): using cgroup v1` });
  });

  test("a cgroup2 mount with memory, pids and cpu is chosen", () => {
    expect(detectCgroups(v2Host())).toEqual({ version: 2 });
    expect(createCgroupManager("run1", v2Host())?.path()).toBe(`${V2}/cave/cave-${process.pid}-run1`);
  });

  test("a cgroup2 tree this user cannot write means no cgroups, and the reason says rootless", () => {
    const fs = v2Host();
    fs.readOnly.add(V2);
    const expected = `cgroup2 at ${V2} is not writable (a read-only mount, or rootless without delegation): running without cgroup limits (rlimits only)`;
    expect(detectCgroups(fs)).toEqual({ version: null, reason: expected });
    expect(createCgroupManager("run1", fs)).toBeNull();
  });

  test("a host without cgroup mounts has no cgroups", () => {
    const fs = new RecordingFs({ "/proc/self/mountinfo": "22 1 0:21 / /proc rw - proc proc rw\n" }, []);
    expect(detectCgroups(fs)).toEqual({ version: null, reason: "no cgroup filesystem is mounted: running without cgroup limits (rlimits only)" });
  });

  test("an id that could leave the cave directory is refused", () => {
    expect(() => createCgroupManager("../etc", v2Host())).toThrow('invalid cgroup id "../etc"');
    expect(() => createCgroupManager("a/b", v2Host())).toThrow('invalid cgroup id "a/b"');
  });
});

// ---- stale cleanup ---------------------------------------------------------------------------

describe("cleanupStale", () => {
  const NOW = 1_000_000_000;
  const ALIVE = 500;
  const DEAD = 999;

  function staleV2Tree(): RecordingFs {
    const fs = v2Host();
    fs.dirs.add(`/proc/${ALIVE}`);
    fs.mkdir(`${V2}/cave`);
    const mk = (name: string, procs: string, mtime: number) => {
      fs.mkdir(`${V2}/cave/${name}`);
      fs.files.set(`${V2}/cave/${name}/cgroup.procs`, procs);
      fs.files.set(`${V2}/cave/${name}/cgroup.events`, `populated ${procs ? 1 : 0}\nfrozen 0\n`);
      fs.mtimes.set(`${V2}/cave/${name}`, mtime);
    };
    mk(`cave-${DEAD}-crashed`, "700\n701\n", NOW);
    mk(`cave-${ALIVE}-running`, "800\n", NOW - 10 * STALE_EMPTY_MS);
    mk(`cave-${ALIVE}-leftover`, "", NOW - STALE_EMPTY_MS - 1);
    mk(`cave-${ALIVE}-starting`, "", NOW - 5);
    mk("cave-notapid-x", "", 0);
    mk(`cave-${DEAD}`, "", 0);
    mk("build", "900\n", 0);
    fs.mkdir(`${V2}/cave-${DEAD}-outside`);
    fs.log.length = 0;
    return fs;
  }

  test("on v2 it kills and removes cgroups of dead owners and old empty ones, and touches nothing else", () => {
    const fs = staleV2Tree();
    expect(cleanupStale({ fs, now: NOW })).toEqual([`${V2}/cave/cave-${ALIVE}-leftover`, `${V2}/cave/cave-${DEAD}-crashed`]);
    expect(fs.log).toEqual([
      // empty: one rmdir
      `rmdir ${V2}/cave/cave-${ALIVE}-leftover`,
      // busy: the rmdir is refused, then kill and remove
      `rmdir ${V2}/cave/cave-${DEAD}-crashed`,
      `write ${V2}/cave/cave-${DEAD}-crashed/cgroup.kill 1`,
      `rmdir ${V2}/cave/cave-${DEAD}-crashed`,
    ]);
    for (const kept of [`cave-${ALIVE}-running`, `cave-${ALIVE}-starting`, "cave-notapid-x", `cave-${DEAD}`, "build"]) {
      expect(fs.exists(`${V2}/cave/${kept}`)).toBe(true);
    }
    expect(fs.exists(`${V2}/cave-${DEAD}-outside`)).toBe(true);
    expect(fs.files.get(`${V2}/cave/build/cgroup.procs`)).toBe("900\n");
  });

  test("on v1 a dead owner's cgroup is killed through the freezer and removed from every hierarchy", () => {
    const fs = v1Host();
    const name = `cave-${DEAD}-crashed`;
    new CgroupV1(fs, HIERARCHIES, name).create(LIMITS);
    for (const c of ["memory", "pids", "freezer"]) fs.files.set(`${leaf(c, name)}/cgroup.procs`, "700\n");
    fs.mkdir(`${CG}/memory/cave/unrelated`);
    fs.log.length = 0;
    const removed = cleanupStale({ fs, now: NOW });
    expect(removed).toEqual(["memory", "cpu", "cpuacct", "pids", "freezer"].map((c) => leaf(c, name)));
    const busy = ["memory", "pids", "freezer"].map((c) => `rmdir ${leaf(c, name)}`);
    expect(fs.log).toEqual([
      // the empty cpu and cpuacct leaves go at the first try; the busy ones are refused
      ...TRY_ALL(name),
      `write ${leaf("freezer", name)}/freezer.state FROZEN`,
      "kill 700",
      `write ${leaf("freezer", name)}/freezer.state THAWED`,
      ...busy,
    ]);
    expect(fs.exists(`${CG}/memory/cave/unrelated`)).toBe(true);
  });

  test("a host without cgroups has nothing to clean", () => {
    const fs = new RecordingFs({ "/proc/self/mountinfo": "" }, []);
    expect(cleanupStale({ fs })).toEqual([]);
  });
});

describe("persistent sandboxes' cgroups (box-<key>)", () => {
  test("on v2 the box cgroup is made beside run's, attach() finds it again in another process, and fails closed once it is gone", () => {
    const fs = v2Host();
    const made = boxCgroupManager("0123abcd-5f00d", fs);
    made?.create(LIMITS);
    expect(made?.path()).toBe(`${V2}/cave/box-0123abcd-5f00d`);
    const later = boxCgroupManager("0123abcd-5f00d", fs) as CgroupV2;
    fs.log.length = 0;
    later.attach();
    later.join(4242);
    expect(fs.log).toEqual([`write ${V2}/cave/box-0123abcd-5f00d/cgroup.procs 4242`]);
    expect(listBoxCgroups(fs)).toEqual(["0123abcd-5f00d"]);
    fs.files.set(`${V2}/cave/box-0123abcd-5f00d/cgroup.procs`, "");
    later.destroy();
    expect(listBoxCgroups(fs)).toEqual([]);
    expect(() => (boxCgroupManager("0123abcd-5f00d", fs) as CgroupV2).attach()).toThrow("the cgroup box-0123abcd-5f00d is gone");
  });

  test("on v1 attach() takes over the leaves of every hierarchy, so join writes each; a gone cgroup fails closed", () => {
    const fs = v1Host();
    const m = new CgroupV1(fs, HIERARCHIES, "box-k-1");
    m.create(LIMITS);
    const other = new CgroupV1(fs, HIERARCHIES, "box-k-1");
    fs.log.length = 0;
    other.attach();
    other.join(77);
    expect(fs.log).toEqual(["memory", "cpu", "cpuacct", "pids", "freezer"].map((c) => `write ${leaf(c, "box-k-1")}/cgroup.procs 77`));
    m.destroy();
    let err: unknown;
    try {
      new CgroupV1(fs, HIERARCHIES, "box-k-1").attach();
    } catch (e) {
      err = e;
    }
    expect(err instanceof CaveError && [err.code, err.message]).toEqual(["SANDBOX_CGROUP", "the cgroup box-k-1 is gone (no memory, cpu, pids directory)"]);
  });

  test("usage reads memory, processes and CPU time: v2 from memory.current, pids.current and cpu.stat; v1 from its own files (CPU in ns)", () => {
    const v2 = v2Host();
    const m2 = boxCgroupManager("u-1", v2) as CgroupV2;
    m2.create(LIMITS);
    v2.files.set(`${V2}/cave/box-u-1/memory.current`, "1048576\n");
    v2.files.set(`${V2}/cave/box-u-1/pids.current`, "3\n");
    v2.files.set(`${V2}/cave/box-u-1/cpu.stat`, "usage_usec 2500000\nuser_usec 2000000\n");
    expect(m2.usage()).toEqual({ memoryBytes: 1048576, pids: 3, cpuSeconds: 2.5 });
    const v1 = v1Host();
    const m1 = new CgroupV1(v1, HIERARCHIES, "box-u-1");
    m1.create(LIMITS);
    v1.files.set(`${leaf("memory", "box-u-1")}/memory.usage_in_bytes`, "4096\n");
    v1.files.set(`${leaf("pids", "box-u-1")}/pids.current`, "1\n");
    v1.files.set(`${leaf("cpuacct", "box-u-1")}/cpuacct.usage`, "1500000000\n");
    expect(m1.usage()).toEqual({ memoryBytes: 4096, pids: 1, cpuSeconds: 1.5 });
  });

  test("an exec's cgroup is a child of its sandbox's with no limits of its own: v2 one mkdir, v1 one per hierarchy, joined there", () => {
    const v2 = v2Host();
    boxCgroupManager("k-1", v2)?.create(LIMITS);
    v2.log.length = 0;
    const e2 = execCgroupManager("k-1", "ab12", v2) as CgroupV2;
    e2.createChild();
    e2.join(9);
    expect(v2.log).toEqual([`mkdir ${V2}/cave/box-k-1/exec-ab12`, `write ${V2}/cave/box-k-1/exec-ab12/cgroup.procs 9`]);
    e2.destroy();
    expect(v2.exists(`${V2}/cave/box-k-1/exec-ab12`)).toBe(false);
    expect(v2.exists(`${V2}/cave/box-k-1`)).toBe(true);

    const v1 = v1Host();
    new CgroupV1(v1, HIERARCHIES, "box-k-1").create(LIMITS);
    v1.log.length = 0;
    const e1 = new CgroupV1(v1, HIERARCHIES, "box-k-1/exec-ab12");
    e1.createChild();
    e1.join(9);
    const ctrls = ["memory", "cpu", "cpuacct", "pids", "freezer"];
    expect(v1.log).toEqual([
      ...ctrls.map((c) => `mkdir ${leaf(c, "box-k-1/exec-ab12")}`),
      ...ctrls.map((c) => `write ${leaf(c, "box-k-1/exec-ab12")}/cgroup.procs 9`),
    ]);
  });

  test("an exec cgroup's names are checked: a key or id with a path in it is refused", () => {
    expect(() => execCgroupManager("k-1", "../x", v2Host())).toThrow("invalid exec cgroup");
    expect(() => execCgroupManager("k/1", "ab", v2Host())).toThrow("invalid exec cgroup");
  });

  test("cleanupStale leaves box cgroups alone: they have no owner pid, the lifecycle owns them", () => {
    const fs = v2Host();
    boxCgroupManager("feed-1", fs)?.create(LIMITS);
    fs.files.set(`${V2}/cave/box-feed-1/cgroup.procs`, "123\n");
    fs.log.length = 0;
    expect(cleanupStale({ fs, now: Date.now() })).toEqual([]);
    expect(fs.log).toEqual([]);
  });

  test("a key outside box-[a-z0-9-] is refused before any path is built from it", () => {
    let err: unknown;
    try {
      boxCgroupManager("../../etc", v2Host());
    } catch (e) {
      err = e;
    }
    expect(err instanceof CaveError && err.code).toBe("SANDBOX_CGROUP");
  });
});
