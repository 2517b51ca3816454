// Picks the cgroup version at run time (v2 when it has memory, pids and cpu, else v1, else none),
// makes the manager for one sandbox, and removes the cgroups crashed runs left behind.
import { CaveError } from "../../core/errors.ts";
import { CAVE_PARENT, type CgroupFs, type CgroupManager, cgroupError, cgroupName, errnoOf, hostFs, NAME_PATTERN, parseMountinfo } from "./types.ts";
import { CgroupV1, V1_REQUIRED, type V1Hierarchy } from "./v1.ts";
import { CgroupV2, V2_REQUIRED } from "./v2.ts";

export type { CgroupFs, CgroupManager, Limits, Usage } from "./types.ts";

/** An empty cave cgroup whose owner pid is alive but which is older than this is a leftover: a
 *  live run leaves its cgroup empty only between create() and join() and after its child exits. */
export const STALE_EMPTY_MS = 60_000;

const V1_CONTROLLER_NAMES = new Set(["cpu", "cpuacct", "cpuset", "memory", "devices", "freezer", "net_cls", "blkio", "perf_event", "net_prio", "hugetlb", "pids", "rdma", "misc"]);

/** What probeCgroups found: the version and where, or why none (opaque to callers). */
export type Probe =
  | { version: 2; mount: string; reason?: string }
  | { version: 1; hierarchies: V1Hierarchy[]; reason?: string }
  | { version: null; reason: string };

function listOf(names: readonly string[]): string {
  return names.join(", ");
}

function probe(fs: CgroupFs): Probe {
  let mounts: ReturnType<typeof parseMountinfo>;
  try {
    mounts = parseMountinfo(fs.read("/proc/self/mountinfo"));
  } catch (e) {
    return { version: null, reason: `cannot read /proc/self/mountinfo (${errnoOf(e)}): running without cgroup limits` };
  }
  const notes: string[] = [];
  // Where cave would create its first directory: the shared parent if it exists, else the root.
  const target = (mount: string) => (fs.exists(`${mount}/${CAVE_PARENT}`) ? `${mount}/${CAVE_PARENT}` : mount);

  for (const m of mounts.filter((x) => x.fstype === "cgroup2")) {
    let available: string[];
    try {
      available = fs.read(`${m.mountPoint}/cgroup.controllers`).split(/\s+/).filter(Boolean);
    } catch (e) {
      notes.push(`cannot read ${m.mountPoint}/cgroup.controllers (${errnoOf(e)})`);
      continue;
    }
    const missing = V2_REQUIRED.filter((c) => !available.includes(c));
    if (missing.length > 0) {
      notes.push(`cgroup2 at ${m.mountPoint} lacks ${listOf(missing)} (it offers: ${available.join(" ") || "nothing"})`);
    } else if (!fs.writable(target(m.mountPoint))) {
      notes.push(`cgroup2 at ${m.mountPoint} is not writable (a read-only mount, or rootless without delegation)`);
    } else {
      return { version: 2, mount: m.mountPoint };
    }
  }

  const hierarchies: V1Hierarchy[] = [];
  for (const m of mounts.filter((x) => x.fstype === "cgroup")) {
    const controllers = m.superOptions.filter((o) => V1_CONTROLLER_NAMES.has(o));
    // A hierarchy bound again elsewhere (containers bind-mount them) counts once, at its first mount.
    if (controllers.length > 0 && !hierarchies.some((h) => h.controllers.some((c) => controllers.includes(c)))) {
      hierarchies.push({ mount: m.mountPoint, controllers });
    }
  }
  const mounted = (c: string) => hierarchies.find((h) => h.controllers.includes(c));
  const missing = V1_REQUIRED.filter((c) => !mounted(c));
  if (hierarchies.length > 0 && missing.length > 0) {
    notes.push(`cgroup v1 lacks ${listOf(missing)}`);
  } else if (hierarchies.length > 0) {
    const readOnly = V1_REQUIRED.filter((c) => !fs.writable(target(mounted(c)?.mount ?? "")));
    if (readOnly.length === 0) return { version: 1, hierarchies, ...(notes.length > 0 ? { reason: `${notes.join("; ")}: using cgroup v1` } : {}) };
    notes.push(`the cgroup v1 hierarchies for ${listOf(readOnly)} are not writable (a read-only mount, or rootless without delegation)`);
  }
  if (notes.length === 0) notes.push("no cgroup filesystem is mounted");
  return { version: null, reason: `${notes.join("; ")}: running without cgroup limits (rlimits only)` };
}

/**
 * One look at the host's cgroup mounts (mountinfo, controllers, writability). A run probes once
 * and hands the result to cleanupStale, createCgroupManager and detectCgroups.
 */
export function probeCgroups(fs: CgroupFs = hostFs): Probe {
  return probe(fs);
}

/** Which cgroup version cave will use here, and why when it is not plain v2. */
export function detectCgroups(fs: CgroupFs = hostFs, probed?: Probe): { version: 1 | 2 | null; reason?: string } {
  const p = probed ?? probe(fs);
  return p.reason === undefined ? { version: p.version } : { version: p.version, reason: p.reason };
}

/** A manager for the cgroup `cave-<this pid>-<id>`, or null where cgroups cannot be used (see detectCgroups). */
export function createCgroupManager(id: string, fs: CgroupFs = hostFs, probed?: Probe): CgroupManager | null {
  return managerFor(probed ?? probe(fs), cgroupName(process.pid, id), fs);
}

/** Names of persistent sandboxes' cgroups: `box-<id>`. They have no owner pid (the CLI that
 *  started one has exited), so cleanupStale, which only looks at `cave-<pid>-<id>`, leaves them
 *  to the sandbox lifecycle. */
export const BOX_PATTERN = /^box-[a-z0-9][a-z0-9-]{0,47}$/;

/** The manager of a persistent sandbox's cgroup `box-<id>` (made by create(), or attach()ed to
 *  when it exists), or null where cgroups cannot be used. */
export function boxCgroupManager(id: string, fs: CgroupFs = hostFs, probed?: Probe): CgroupManager | null {
  const name = `box-${id}`;
  if (!BOX_PATTERN.test(name)) throw new CaveError("SANDBOX_CGROUP", `invalid sandbox key ${JSON.stringify(id)}`, { hint: "keys are 1–48 lowercase letters, digits and '-'" });
  return managerFor(probed ?? probe(fs), name, fs);
}

/** The cgroup of one exec inside a persistent sandbox's: `box-<key>/exec-<id>`. Everything
 *  the exec starts stays in it, so its timeout can kill it all, daemons that left its process
 *  group included; the sandbox's limits bound it from above. */
export function execCgroupManager(key: string, execId: string, fs: CgroupFs = hostFs, probed?: Probe): CgroupManager | null {
  const box = `box-${key}`;
  if (!BOX_PATTERN.test(box) || !/^[a-z0-9]{1,32}$/.test(execId)) {
    throw new CaveError("SANDBOX_CGROUP", `invalid exec cgroup ${JSON.stringify(`${key}/${execId}`)}`, { hint: "this is a bug in the caller" });
  }
  return managerFor(probed ?? probe(fs), `${box}/exec-${execId}`, fs);
}

/** The keys of every `box-<key>` cgroup on the host (any hierarchy), for the lifecycle to
 *  remove those of its own that no known running sandbox owns. */
export function listBoxCgroups(fs: CgroupFs = hostFs, probed?: Probe): string[] {
  const p = probed ?? probe(fs);
  if (p.version === null) return [];
  const parents = p.version === 2 ? [`${p.mount}/${CAVE_PARENT}`] : p.hierarchies.map((h) => `${h.mount}/${CAVE_PARENT}`);
  const ids = new Set<string>();
  for (const parent of parents) {
    if (!fs.exists(parent)) continue;
    for (const name of fs.subdirs(parent)) if (BOX_PATTERN.test(name)) ids.add(name.slice(4));
  }
  return [...ids].sort();
}

function managerFor(p: Probe, name: string, fs: CgroupFs): CgroupV1 | CgroupV2 | null {
  if (p.version === 2) return new CgroupV2(fs, p.mount, name);
  if (p.version === 1) return new CgroupV1(fs, p.hierarchies, name);
  return null;
}

/**
 * Removes `cave-<pid>-<id>` cgroups left by crashed runs: those whose owner pid is gone (their
 * processes are killed first), and empty ones older than STALE_EMPTY_MS (the owner pid was reused).
 * Looks only at `cave-*` directories under each hierarchy's `cave/`. Returns the removed paths.
 */
export function cleanupStale(opts: { fs?: CgroupFs; now?: number; probe?: Probe } = {}): string[] {
  const fs = opts.fs ?? hostFs;
  const now = opts.now ?? Date.now();
  const p = opts.probe ?? probe(fs);
  if (p.version === null) return [];
  const parents = p.version === 2 ? [`${p.mount}/${CAVE_PARENT}`] : p.hierarchies.map((h) => `${h.mount}/${CAVE_PARENT}`);
  const names = new Set<string>();
  for (const parent of parents) {
    if (!fs.exists(parent)) continue;
    let children: string[];
    try {
      children = fs.subdirs(parent);
    } catch (e) {
      throw cgroupError("list", parent, e);
    }
    for (const name of children) if (NAME_PATTERN.test(name)) names.add(name);
  }

  const removed: string[] = [];
  const failed: CaveError[] = [];
  for (const name of [...names].sort()) {
    const owner = Number(NAME_PATTERN.exec(name)?.[1]);
    const m = managerFor(p, name, fs);
    if (m === null) continue;
    try {
      const ownerGone = !fs.exists(`/proc/${owner}`);
      if (!ownerGone && !(m.isEmpty() && now - m.lastChangeMs() > STALE_EMPTY_MS)) continue;
      const dirs = m.existingDirs();
      m.destroy();
      removed.push(...dirs);
    } catch (e) {
      // One stuck leftover must not keep the others: try them all, then report every failure.
      failed.push(e instanceof CaveError ? e : cgroupError("remove", name, e));
    }
  }
  if (failed.length > 0) {
    throw new CaveError("SANDBOX_CGROUP", `could not remove ${failed.length} stale cgroup(s): ${failed.map((e) => e.message).join("; ")}`, {
      hint: failed[0]?.hint ?? "see the cause",
      cause: failed,
    });
  }
  return removed;
}
