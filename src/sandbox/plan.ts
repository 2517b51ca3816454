// Sandbox spec → the plain list of setup operations the native helper applies.
// Pure: everything the plan needs from the host arrives in `HostFacts`, so the
// whole layout (mounts, pivot_root, user namespace) is unit-testable without root.
import type { NativeOp } from "../../ffi/helper.ts";
import { CaveError } from "../core/errors.ts";

export const NS = {
  MOUNT: 0x00020000,
  CGROUP: 0x02000000,
  UTS: 0x04000000,
  IPC: 0x08000000,
  USER: 0x10000000,
  PID: 0x20000000,
  NET: 0x40000000,
} as const;

const MS = {
  RDONLY: 1, NOSUID: 2, NODEV: 4, NOEXEC: 8, BIND: 4096, REC: 16384, PRIVATE: 1 << 18,
} as const;
const ATTR = { RDONLY: 1, NOSUID: 2, NODEV: 4, NOEXEC: 8, IDMAP: 0x100000 } as const;

/** The uid/gid outside that stands for root inside when cave runs as real root. */
export const NOBODY = 65534;

export interface Bind {
  src: string;
  dst: string;
  readOnly: boolean;
}

export interface SandboxSpec {
  argv: string[];
  env: Record<string, string>;
  workdir: string;
  hostname: string;
  /** Host directory used as the root; "/" is the host's own root. */
  rootfs: string;
  binds: Bind[];
  network: "none" | "host";
  diskBytes: number;
  /** Give the command a pseudo-terminal of the sandbox's own devpts. */
  tty?: boolean;
  /** Resource limits set with setrlimit before the command starts (0 = core dumps off). */
  rlimits: Rlimit[];
  /** A persistent sandbox: the writable layer is this block device (an ext4 image on a loop
   *  device, see disk.ts) instead of a fresh tmpfs, and init's stdio becomes /dev/null. */
  persistent?: { device: string };
}

export type RlimitName = keyof typeof RLIMIT;
export interface Rlimit {
  name: RlimitName;
  value: number;
}
/** Resource numbers of setrlimit(2). */
export const RLIMIT = { cpu: 0, fsize: 1, data: 2, stack: 3, core: 4, nproc: 6, nofile: 7, as: 9 } as const;

export interface HostFacts {
  /** Real uid/gid of cave; 0 selects the privileged layout. */
  uid: number;
  gid: number;
  /** Top-level entries of the rootfs (rootless layout binds them one by one). */
  rootEntries: { name: string; type: "dir" | "file" | "symlink"; target?: string }[];
  /** Whether each bind source is a directory (else a file), same order as spec.binds. */
  bindIsDir: boolean[];
  /** Which of the masked /proc paths this kernel has (a fresh /proc shows the same ones). */
  procPaths: Set<string>;
}

/** /proc files that leak host state or poke the kernel: /dev/null is bound over them. */
export const PROC_MASKED_FILES = ["kcore", "keys", "kallsyms", "latency_stats", "timer_list", "timer_stats", "sched_debug", "sysrq-trigger", "kpagecount", "kpageflags", "kpagecgroup", "config.gz"];
/** /proc directories hidden under an empty read-only tmpfs. */
export const PROC_MASKED_DIRS = ["acpi", "asound", "scsi", "driver"];
/** /proc directories that stay visible but read-only. */
export const PROC_READONLY = ["sys", "bus", "fs", "irq"];

export interface StepOp {
  op: NativeOp;
  /** What this step does, for the one-line error when it fails. */
  step: string;
}

export type SyncAction =
  | { kind: "join-cgroup" }
  | { kind: "write-id-maps"; uidMap: string; gidMap: string }
  | { kind: "size-terminal" };

export interface Plan {
  cloneFlags: number;
  ops: StepOp[];
  /** What the parent does at each OP_SYNC, in order. */
  syncs: SyncAction[];
  privileged: boolean;
}

/** The staging tmpfs: every write in the sandbox lands here, so its size is the disk limit. */
const STAGE = "/tmp";
const ROOT = `${STAGE}/root`;
const DEV_NODES = ["null", "zero", "full", "random", "urandom", "tty"];
/** Mounted fresh or private in every layout; never taken from the host root. */
const OWN_DIRS = new Set(["proc", "sys", "dev", "tmp", "root"]);
const SLOT_ROOTFS = 0;
const SLOT_USERNS = 1;
const SLOT_BIND0 = 2;

export function buildPlan(spec: SandboxSpec, host: HostFacts): Plan {
  const privileged = host.uid === 0;
  const ops: StepOp[] = [];
  const syncs: SyncAction[] = [];
  const add = (step: string, op: NativeOp) => ops.push({ step, op });
  const sync = (step: string, action: SyncAction) => {
    add(step, { kind: "sync" });
    syncs.push(action);
  };

  let cloneFlags = NS.MOUNT | NS.PID | NS.UTS | NS.IPC;
  if (spec.network === "none") cloneFlags |= NS.NET;
  if (!privileged) {
    // Rootless: the user namespace must come first, with the parent writing the maps.
    cloneFlags |= NS.USER;
    sync("wait for the parent to write uid_map/gid_map", {
      kind: "write-id-maps",
      uidMap: `0 ${host.uid} 1`,
      gidMap: `0 ${host.gid} 1`,
    });
    add("become root in the user namespace", { kind: "setid", uid: 0, gid: 0 });
  }
  if (spec.network === "none") add("bring up the loopback interface", { kind: "lo_up" });
  add("set the hostname", { kind: "sethostname", name: spec.hostname });
  add("make all mounts private", { kind: "mount", src: null, target: "/", fstype: null, flags: MS.REC | MS.PRIVATE, data: null });

  // Take host trees before the staging tmpfs shadows /tmp, where sources may live.
  spec.binds.forEach((b, i) => {
    add(`open bind source ${b.src}`, { kind: "open_tree", path: b.src, recursive: true, slot: SLOT_BIND0 + i });
    add(`lock bind mount of ${b.src} (${b.readOnly ? "ro," : ""}nosuid,nodev)`, {
      kind: "mount_setattr", path: null, treeSlot: SLOT_BIND0 + i,
      set: ATTR.NOSUID | ATTR.NODEV | (b.readOnly ? ATTR.RDONLY : 0), clear: 0, recursive: true,
    });
  });
  const idmapBinds = () =>
    spec.binds.forEach((b, i) => {
      // Host root's files in a bind belong to root inside, as in the root filesystem.
      // Filesystems without idmap support (EINVAL) keep plain ownership: stricter, not looser.
      add(`idmap bind ${b.src} into the sandbox user namespace`, {
        kind: "mount_setattr", path: null, treeSlot: SLOT_BIND0 + i, usernsSlot: SLOT_USERNS,
        set: ATTR.IDMAP, clear: 0, recursive: true, tolerate: "EINVAL",
      });
    });
  add(`open the root filesystem ${spec.rootfs}`, { kind: "open_tree", path: spec.rootfs, recursive: !privileged, slot: SLOT_ROOTFS });
  if (spec.persistent) {
    // The same layout on a filesystem that outlives the sandbox; its size is the disk limit.
    add(`mount the ${spec.diskBytes}-byte ext4 image (${spec.persistent.device}) that holds every write`, {
      kind: "mount", src: spec.persistent.device, target: STAGE, fstype: "ext4", flags: MS.NOSUID | MS.NODEV, data: null,
    });
  } else {
    add(`mount the ${spec.diskBytes}-byte tmpfs that holds every write`, {
      kind: "mount", src: "cave", target: STAGE, fstype: "tmpfs", flags: MS.NOSUID | MS.NODEV,
      data: `size=${spec.diskBytes},mode=0755`,
    });
  }
  const again = spec.persistent !== undefined; // a restarted sandbox finds its directories
  const inside = privileged ? NOBODY : 0; // owner of writable dirs, as seen from the mounter
  for (const [dir, mode] of [["lower", 0o755], ["upper", 0o755], ["work", 0o700], ["root", 0o755], ["tmp", 0o1777], ["shm", 0o1777], ["home", 0o700]] as const) {
    add(`create ${STAGE}/${dir}`, { kind: "mkdir", path: `${STAGE}/${dir}`, mode, ...(again ? { ignoreExist: true } : {}) });
    if (dir !== "work" && dir !== "lower") add(`hand ${STAGE}/${dir} to the sandbox's root`, { kind: "chown", path: `${STAGE}/${dir}`, uid: inside, gid: inside });
  }
  // mkdir applies the umask; the sticky, world-writable modes must be exact.
  add(`set mode of ${STAGE}/tmp`, { kind: "chmod", path: `${STAGE}/tmp`, mode: 0o1777 });
  add(`set mode of ${STAGE}/shm`, { kind: "chmod", path: `${STAGE}/shm`, mode: 0o1777 });

  if (privileged) {
    // Real root: one overlay of the whole root. The lower layer is idmapped through the
    // sandbox's own user namespace, so host root's files belong to root inside, while
    // root inside is nobody (65534) outside.
    // The throwaway child that holds the new user namespace is found through a proc
    // of our own pid namespace; the host's /proc would show another process.
    add(`create ${STAGE}/proc`, { kind: "mkdir", path: `${STAGE}/proc`, mode: 0o700, ...(again ? { ignoreExist: true } : {}) });
    add(`mount proc on ${STAGE}/proc`, { kind: "mount", src: "proc", target: `${STAGE}/proc`, fstype: "proc", flags: MS.NOSUID | MS.NODEV | MS.NOEXEC, data: null });
    add("create the sandbox user namespace (root inside = nobody outside)", {
      kind: "userns", uidMap: `0 ${NOBODY} 1`, gidMap: `0 ${NOBODY} 1`, procDir: `${STAGE}/proc`, slot: SLOT_USERNS,
    });
    add(`unmount ${STAGE}/proc`, { kind: "umount", path: `${STAGE}/proc`, flags: 2 });
    idmapBinds();
    add("idmap the root filesystem into the sandbox user namespace", {
      kind: "mount_setattr", path: null, treeSlot: SLOT_ROOTFS, usernsSlot: SLOT_USERNS,
      set: ATTR.IDMAP, clear: 0, recursive: false,
    });
    add(`attach the root filesystem at ${STAGE}/lower`, { kind: "move_mount", slot: SLOT_ROOTFS, target: `${STAGE}/lower` });
    add("mount the overlay root (host read-only, writes to tmpfs)", {
      kind: "mount", src: "overlay", target: ROOT, fstype: "overlay", flags: MS.NOSUID | MS.NODEV,
      data: `lowerdir=${STAGE}/lower,upperdir=${STAGE}/upper,workdir=${STAGE}/work`,
    });
  } else {
    // Rootless: overlayfs cannot take a tree with locked submounts, so the root is a
    // tmpfs directory with each top-level host entry bound read-only into it.
    add(`attach the root filesystem at ${STAGE}/lower`, { kind: "move_mount", slot: SLOT_ROOTFS, target: `${STAGE}/lower` });
    add("make the new root a mount point", { kind: "mount", src: ROOT, target: ROOT, fstype: null, flags: MS.BIND, data: null });
    for (const e of host.rootEntries) {
      if (OWN_DIRS.has(e.name)) continue;
      const dst = `${ROOT}/${e.name}`;
      const src = `${STAGE}/lower/${e.name}`;
      if (e.type === "symlink") {
        add(`link /${e.name}`, { kind: "symlink", target: e.target ?? "", path: dst });
        continue;
      }
      if (e.type === "dir") add(`create /${e.name}`, { kind: "mkdir", path: dst, mode: 0o755 });
      else add(`create /${e.name}`, { kind: "create_file", path: dst, mode: 0o644 });
      add(`bind /${e.name} from the host`, { kind: "mount", src, target: dst, fstype: null, flags: MS.BIND | MS.REC, data: null });
      add(`make /${e.name} read-only`, {
        kind: "mount_setattr", path: dst, set: ATTR.RDONLY | ATTR.NOSUID | ATTR.NODEV, clear: 0, recursive: true,
      });
    }
    for (const d of OWN_DIRS) add(`create /${d}`, { kind: "mkdir", path: `${ROOT}/${d}`, mode: 0o755, ignoreExist: true });
  }

  add("mount a fresh /proc", { kind: "mount", src: "proc", target: `${ROOT}/proc`, fstype: "proc", flags: MS.NOSUID | MS.NODEV | MS.NOEXEC, data: null });
  for (const f of PROC_MASKED_FILES.filter((f) => host.procPaths.has(f))) {
    add(`mask /proc/${f}`, { kind: "mount", src: "/dev/null", target: `${ROOT}/proc/${f}`, fstype: null, flags: MS.BIND, data: null });
  }
  for (const d of PROC_MASKED_DIRS.filter((d) => host.procPaths.has(d))) {
    add(`mask /proc/${d}`, { kind: "mount", src: "cave-mask", target: `${ROOT}/proc/${d}`, fstype: "tmpfs", flags: MS.RDONLY | MS.NOSUID | MS.NODEV | MS.NOEXEC, data: "size=0,mode=0555" });
  }
  for (const d of PROC_READONLY.filter((d) => host.procPaths.has(d))) {
    add(`bind /proc/${d} to itself`, { kind: "mount", src: `${ROOT}/proc/${d}`, target: `${ROOT}/proc/${d}`, fstype: null, flags: MS.BIND | MS.REC, data: null });
    add(`make /proc/${d} read-only`, { kind: "mount_setattr", path: `${ROOT}/proc/${d}`, set: ATTR.RDONLY | ATTR.NOSUID | ATTR.NODEV | ATTR.NOEXEC, clear: 0, recursive: true });
  }
  add("mount /sys read-only", { kind: "mount", src: "sysfs", target: `${ROOT}/sys`, fstype: "sysfs", flags: MS.RDONLY | MS.NOSUID | MS.NODEV | MS.NOEXEC, data: null });
  add("mount a minimal /dev", { kind: "mount", src: "cave-dev", target: `${ROOT}/dev`, fstype: "tmpfs", flags: MS.NOSUID | MS.NOEXEC, data: "size=64k,mode=0755" });
  for (const n of DEV_NODES) {
    add(`create /dev/${n}`, { kind: "create_file", path: `${ROOT}/dev/${n}`, mode: 0o666 });
    add(`bind /dev/${n}`, { kind: "mount", src: `/dev/${n}`, target: `${ROOT}/dev/${n}`, fstype: null, flags: MS.BIND, data: null });
  }
  add("create /dev/pts", { kind: "mkdir", path: `${ROOT}/dev/pts`, mode: 0o755 });
  add("mount a private devpts", { kind: "mount", src: "devpts", target: `${ROOT}/dev/pts`, fstype: "devpts", flags: MS.NOSUID | MS.NOEXEC, data: "newinstance,ptmxmode=0666,mode=0620" });
  for (const [name, target] of [["ptmx", "pts/ptmx"], ["fd", "/proc/self/fd"], ["stdin", "/proc/self/fd/0"], ["stdout", "/proc/self/fd/1"], ["stderr", "/proc/self/fd/2"]] as const) {
    add(`link /dev/${name}`, { kind: "symlink", target, path: `${ROOT}/dev/${name}` });
  }
  add("create /dev/shm", { kind: "mkdir", path: `${ROOT}/dev/shm`, mode: 0o1777 });
  add("bind /dev/shm", { kind: "mount", src: `${STAGE}/shm`, target: `${ROOT}/dev/shm`, fstype: null, flags: MS.BIND, data: null });
  add("bind /tmp", { kind: "mount", src: `${STAGE}/tmp`, target: `${ROOT}/tmp`, fstype: null, flags: MS.BIND, data: null });
  add("bind a private /root", { kind: "mount", src: `${STAGE}/home`, target: `${ROOT}/root`, fstype: null, flags: MS.BIND, data: null });

  add(`enter the new root ${ROOT}`, { kind: "chdir", path: ROOT });
  add("pivot_root and detach the old root", { kind: "pivot_root" });
  if (!privileged) {
    add("make / read-only", { kind: "mount_setattr", path: "/", set: ATTR.RDONLY | ATTR.NOSUID | ATTR.NODEV, clear: 0, recursive: false });
  }

  // Binds resolve their targets only now, inside the new root: a symlink in the
  // rootfs cannot point a mount at a host path.
  spec.binds.forEach((b, i) => {
    const parts = b.dst.split("/").filter(Boolean);
    for (let k = 1; k < parts.length; k++) {
      add(`create ${"/" + parts.slice(0, k).join("/")} for bind ${b.dst}`, { kind: "mkdir", path: `/${parts.slice(0, k).join("/")}`, mode: 0o755, ignoreExist: true });
    }
    if (host.bindIsDir[i]) add(`create bind target ${b.dst}`, { kind: "mkdir", path: b.dst, mode: 0o755, ignoreExist: true });
    else add(`create bind target ${b.dst}`, { kind: "create_file", path: b.dst, mode: 0o644 });
    add(`bind ${b.src} on ${b.dst}`, { kind: "move_mount", slot: SLOT_BIND0 + i, target: b.dst });
  });

  // Late on purpose: on cgroup v1 the parent's attach waits out an RCU grace period
  // (~10 ms), which overlaps with all the mounting above.
  sync("wait for the parent to place the sandbox in its cgroup", { kind: "join-cgroup" });
  add("create the cgroup namespace", { kind: "unshare", flags: NS.CGROUP });
  if (privileged && spec.persistent) {
    // cave-init enters it after its exec, so that its memory belongs to the initial user
    // namespace (as run's init's does) and the sandbox's root can neither trace nor read it.
    add("hand the sandbox user namespace to cave-init", { kind: "handoff", slot: SLOT_USERNS });
  } else if (privileged) {
    add("enter the sandbox user namespace", { kind: "setns", slot: SLOT_USERNS, nstype: NS.USER });
    add("become root in the user namespace", { kind: "setid", uid: 0, gid: 0 });
  }
  for (const r of spec.rlimits) {
    const v = BigInt(r.value);
    add(`set rlimit ${r.name}=${r.value}`, { kind: "setrlimit", resource: RLIMIT[r.name], soft: v, hard: v });
  }
  if (spec.tty) {
    // Opened as the sandbox's root so the terminal belongs to the command's user.
    add("open a terminal in the sandbox's /dev/pts", { kind: "pty" });
    sync("wait for the parent to size the terminal", { kind: "size-terminal" });
  }
  if (spec.persistent) add("give init /dev/null as stdio", { kind: "devnull_stdio", path: "/dev/null" });
  return { cloneFlags, ops, syncs, privileged };
}

/** What `cave exec` needs of the sandbox it joins (from its stored config). */
export interface ExecSpec {
  argv: string[];
  env: Record<string, string>;
  workdir: string;
  network: "none" | "host";
  rlimits: Rlimit[];
  /** A pseudo-terminal of the sandbox's devpts for the command (cave exec in a terminal). */
  tty?: boolean;
}

/**
 * The ops of a process that joins a running persistent sandbox through a pidfd of its init:
 * its cgroup first (as real root), then every namespace the sandbox owns, the user namespace
 * last and alone. The sandbox's namespaces belong to the initial user namespace (they were
 * made before init entered its own), so they can only be joined while still real root; then
 * setns(CLONE_NEWUSER) and setresuid(0) make the process what init's commands are: root
 * inside, nobody outside. The pid namespace applies to children: the helper forks the command.
 */
export function buildExecPlan(spec: ExecSpec, initPidfd: number, privileged: boolean): Plan {
  if (!privileged) {
    throw new CaveError("SANDBOX_UNSUPPORTED", "cave exec into a persistent sandbox needs root", { hint: "rootless persistent sandboxes are not supported yet: use cave run" });
  }
  const ops: StepOp[] = [];
  const syncs: SyncAction[] = [];
  ops.push({ step: "wait for the parent to place the process in the sandbox's cgroup", op: { kind: "sync" } });
  syncs.push({ kind: "join-cgroup" });
  let nstype = NS.MOUNT | NS.PID | NS.UTS | NS.IPC | NS.CGROUP;
  if (spec.network === "none") nstype |= NS.NET;
  ops.push({ step: "join the sandbox's mount, pid, uts, ipc, cgroup and network namespaces", op: { kind: "setns_fd", fd: initPidfd, nstype } });
  ops.push({ step: "join the sandbox's user namespace", op: { kind: "setns_fd", fd: initPidfd, nstype: NS.USER } });
  ops.push({ step: "become root in the user namespace", op: { kind: "setid", uid: 0, gid: 0 } });
  for (const r of spec.rlimits) {
    const v = BigInt(r.value);
    ops.push({ step: `set rlimit ${r.name}=${r.value}`, op: { kind: "setrlimit", resource: RLIMIT[r.name], soft: v, hard: v } });
  }
  if (spec.tty) {
    // As run's: opened as the sandbox's root, in its own devpts (the mount namespace is joined).
    ops.push({ step: "open a terminal in the sandbox's /dev/pts", op: { kind: "pty" } });
    ops.push({ step: "wait for the parent to size the terminal", op: { kind: "sync" } });
    syncs.push({ kind: "size-terminal" });
  }
  return { cloneFlags: 0, ops, syncs, privileged };
}

export const DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/** The clean environment: PATH, HOME, TERM, LANG, then the user's additions. */
export function sandboxEnv(hostEnv: Record<string, string | undefined>, extra: Record<string, string>): Record<string, string> {
  return {
    PATH: DEFAULT_PATH,
    HOME: "/root",
    TERM: hostEnv.TERM || "dumb",
    LANG: hostEnv.LANG || "C.UTF-8",
    ...extra,
  };
}
