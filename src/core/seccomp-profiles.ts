// The seccomp profile model and cave's built-in profiles, as plain data. Compiling a profile
// into BPF (and checking names against libseccomp) happens in ./index.ts; nothing here calls the kernel.
// What each profile denies, and why, follows the escape classes of the sandbox design (sandbox.md).

export type SeccompAction = { kind: "errno"; errno: number } | { kind: "kill" } | { kind: "log" } | { kind: "allow" };

export type ArgOp = "eq" | "ne" | "lt" | "le" | "gt" | "ge" | "masked_eq";

/**
 * One check on a syscall argument (index 0..5), compared as an unsigned 64-bit value;
 * `masked_eq` holds when (arg & mask) == value. Arguments the kernel declares `int` or
 * `unsigned int` (ioctl's request, socket's domain, personality) need `masked_eq` with mask
 * 0xffffffff: the kernel ignores the upper 32 bits, so a plain `eq` can be dodged by setting them.
 */
export interface ArgCheck {
  index: number;
  op: ArgOp;
  value: number;
  mask?: number;
}

/**
 * `action` applies to each syscall in `names` when every check in `args` holds. libseccomp allows
 * one check per argument in a rule; to mean "any value except these", give the exceptions as
 * `eq`/`masked_eq` rules and a catch-all `ge 0` rule on the same argument: libseccomp tests
 * equality checks before range checks, whatever order the rules come in.
 */
export interface SeccompRule {
  names: readonly string[];
  action: SeccompAction;
  args?: readonly ArgCheck[];
}

export interface SeccompProfile {
  /** Shown in errors: the built-in name or the config key. */
  name: string;
  defaultAction: SeccompAction;
  rules: readonly SeccompRule[];
}

export const ERRNO = { EPERM: 1, ENOSYS: 38, EAFNOSUPPORT: 97 } as const;

const allow: SeccompAction = { kind: "allow" };
const eperm: SeccompAction = { kind: "errno", errno: ERRNO.EPERM };
const enosys: SeccompAction = { kind: "errno", errno: ERRNO.ENOSYS };
const eafnosupport: SeccompAction = { kind: "errno", errno: ERRNO.EAFNOSUPPORT };

const LOW32 = 0xffffffff;

/** Every CLONE_NEW* flag clone(2) takes in its flags word (CLONE_NEWTIME only fits clone3). */
export const CLONE_NEW = {
  NEWNS: 0x00020000,
  NEWCGROUP: 0x02000000,
  NEWUTS: 0x04000000,
  NEWIPC: 0x08000000,
  NEWUSER: 0x10000000,
  NEWPID: 0x20000000,
  NEWNET: 0x40000000,
} as const;
const CLONE_NEW_ANY = Object.values(CLONE_NEW).reduce((a, b) => a + b, 0);

export const TIOCSTI = 0x5412;
export const TIOCLINUX = 0x541c;
export const AF = { UNIX: 1, INET: 2, INET6: 10, NETLINK: 16, VSOCK: 40 } as const;
export const PER_LINUX = 0;
/** personality(0xffffffff) only reads the current persona. */
export const PER_QUERY = 0xffffffff;

/**
 * "personality with any low 32-bit value other than 0 and 0xffffffff", as a union of
 * one-check rules (libseccomp cannot AND two checks on one argument): a 32-bit word that
 * is neither all zeros nor all ones has, going round it, some 1 bit followed by a 0 bit.
 */
function personalityOtherThanLinuxOrQuery(action: SeccompAction): SeccompRule[] {
  return Array.from({ length: 32 }, (_, k) => {
    const one = 2 ** k;
    const zero = 2 ** ((k + 1) % 32);
    return { names: ["personality"], action, args: [{ index: 0, op: "masked_eq", mask: one + zero, value: one }] };
  });
}

export const S_ISUID = 0o4000;
export const S_ISGID = 0o2000;

/**
 * The syscalls that take a file mode, and which argument holds it. Any of them with S_ISUID or
 * S_ISGID in the mode could plant a setuid/setgid file: in an idmapped read-write bind it
 * belongs to the host's root (root inside owns what it creates, and an owner may set these
 * bits without any capability), and the host mount is not nosuid. mkdir/mkdirat are left out:
 * setgid on a directory only passes its group on. openat2 carries its mode in a struct (below).
 */
export const MODE_ARGUMENT: Readonly<Record<string, number>> = {
  chmod: 1, fchmod: 1, creat: 1, mknod: 1,
  fchmodat: 2, fchmodat2: 2, open: 2, mknodat: 2,
  openat: 3,
};

/** MODE_ARGUMENT's syscalls grouped by argument index: one rule per index and bit. */
function byModeArgument(): [number, string[]][] {
  const groups = new Map<number, string[]>();
  for (const [name, index] of Object.entries(MODE_ARGUMENT)) groups.set(index, [...(groups.get(index) ?? []), name]);
  return [...groups];
}

/**
 * Syscalls cave's built-ins name that an older libseccomp may not know (upstream added
 * fchmodat2 in 2.5.5; some distributions patched it into 2.5.4), by number on the arches
 * where it was checked.
 * The number is used only when libseccomp does not resolve the name; elsewhere the name stays
 * an error, so a rule is never silently left out. fchmodat2 is Linux 6.6's, 452 on both.
 */
export const SYSCALL_NUMBER_FALLBACKS: Readonly<Record<string, Readonly<Partial<Record<"x86_64" | "aarch64", number>>>>> = {
  fchmodat2: { x86_64: 452, aarch64: 452 },
};

/**
 * Denials shared by both built-ins: the escape classes a seccomp filter can close. Most of
 * these already fail for a process without capabilities; the filter keeps the kernel code
 * behind them out of reach too (bugs in it are how sandboxes get escaped).
 */
const ESCAPE_DENIALS: readonly SeccompRule[] = [
  // Nested namespaces: a new user namespace hands back every capability over its own
  // objects and opens kernel code (mounts, netfilter) that is otherwise root-only.
  { names: ["unshare", "setns"], action: eperm },
  ...Object.values(CLONE_NEW).map(
    (flag): SeccompRule => ({ names: ["clone"], action: eperm, args: [{ index: 0, op: "masked_eq", mask: flag, value: flag }] }),
  ),
  // Mount table changes, old and new mount API, and chroot (the classic chroot escape).
  {
    names: ["mount", "umount2", "pivot_root", "chroot", "fsopen", "fsconfig", "fsmount", "fspick", "open_tree", "move_mount", "mount_setattr"],
    action: eperm,
  },
  // The kernel keyring is not namespaced: keys would be shared with the host.
  { names: ["keyctl", "add_key", "request_key"], action: eperm },
  // Large, often-exploited kernel surfaces: eBPF, perf, userfaultfd (used to win kernel races), io_uring.
  { names: ["bpf", "perf_event_open", "userfaultfd", "io_uring_setup", "io_uring_enter", "io_uring_register"], action: eperm },
  // File handles bypass the mount namespace (the "shocker" escape).
  { names: ["open_by_handle_at", "name_to_handle_at"], action: eperm },
  // Reading or steering other processes.
  { names: ["ptrace", "process_vm_readv", "process_vm_writev", "kcmp", "pidfd_getfd"], action: eperm },
  // Replacing the kernel or loading code into it.
  { names: ["kexec_load", "kexec_file_load", "init_module", "finit_module", "delete_module"], action: eperm },
  // Host-wide state that no namespace covers: clocks, swap, accounting, quotas, the
  // kernel log, reboot, port I/O, and a few obsolete calls kept only for old binaries.
  {
    names: [
      "acct", "swapon", "swapoff", "reboot", "settimeofday", "clock_settime", "adjtimex", "clock_adjtime",
      "syslog", "quotactl", "lookup_dcookie", "vhangup", "nfsservctl", "iopl", "ioperm", "uselib", "_sysctl",
    ],
    action: eperm,
  },
  // Terminal injection: TIOCSTI pushes input into the terminal the command shares with
  // its caller; TIOCLINUX can paste the console selection the same way.
  { names: ["ioctl"], action: eperm, args: [{ index: 1, op: "masked_eq", mask: LOW32, value: TIOCSTI }] },
  { names: ["ioctl"], action: eperm, args: [{ index: 1, op: "masked_eq", mask: LOW32, value: TIOCLINUX }] },
  // vsock reaches the hypervisor host, outside any network namespace.
  { names: ["socket"], action: eafnosupport, args: [{ index: 0, op: "masked_eq", mask: LOW32, value: AF.VSOCK }] },
  // Persona flags such as ADDR_NO_RANDOMIZE, READ_IMPLIES_EXEC and MMAP_PAGE_ZERO weaken
  // memory protections; only PER_LINUX and the query are needed.
  ...personalityOtherThanLinuxOrQuery(eperm),
  // Setuid/setgid files: the mode argument of chmod, open(O_CREAT), mknod and their siblings
  // with S_ISUID or S_ISGID. Mode arguments are 32-bit; the masks look at one low bit only.
  ...byModeArgument().flatMap(([index, names]) =>
    [S_ISUID, S_ISGID].map((bit): SeccompRule => ({ names, action: eperm, args: [{ index, op: "masked_eq", mask: bit, value: bit }] })),
  ),
];

/** `default`: everything not listed runs; the escape classes fail with an errno. */
export const DEFAULT_PROFILE: SeccompProfile = {
  name: "default",
  defaultAction: allow,
  rules: [
    ...ESCAPE_DENIALS,
    // clone3 passes its flags in memory, out of the filter's sight; ENOSYS makes glibc
    // and others fall back to clone(2), whose flags the rules above can check.
    { names: ["clone3"], action: enosys },
    // openat2 passes its mode inside struct open_how, out of sight like clone3's flags;
    // glibc and runtimes fall back to openat, whose mode the rules above check.
    { names: ["openat2"], action: enosys },
  ],
};

/**
 * What `strict` lets through. Measured with strace over sh (coreutils, sed, awk, tar, ps),
 * python3 (subprocess, threads, asyncio, multiprocessing, sqlite3), node (child_process,
 * worker_threads, http), gcc/g++ compiling and running hello world, and bun; then checked
 * by running the same workloads in the sandbox under this list with the default action
 * set to "log" (kernel audit records name every call that would have failed); then
 * rounded out with the sibling calls of each family (renameat next to rename, and so on)
 * so programs that take the other spelling keep working.
 */
const STRICT_ALLOWED: readonly string[] = [
  // processes and threads (clone is allowed below only without namespace flags)
  "fork", "vfork", "execve", "execveat", "exit", "exit_group", "wait4", "waitid",
  "kill", "tkill", "tgkill", "getpid", "getppid", "gettid", "getpgrp", "getpgid", "setpgid", "getsid", "setsid",
  "set_tid_address", "set_robust_list", "get_robust_list", "rseq", "futex", "arch_prctl", "prctl",
  "sched_yield", "sched_getaffinity", "sched_setaffinity", "sched_getparam", "sched_setparam",
  "sched_getscheduler", "sched_setscheduler", "sched_get_priority_max", "sched_get_priority_min",
  "sched_getattr", "sched_setattr", "sched_rr_get_interval", "getpriority", "setpriority",
  "getrlimit", "setrlimit", "prlimit64", "getrusage", "times", "pidfd_open", "pidfd_send_signal",
  "capget", "uname", "sysinfo", "umask", "restart_syscall", "getcpu", "ioprio_get", "ioprio_set",
  // credentials (without capabilities these can only shuffle the ids the process already has)
  "getuid", "geteuid", "getgid", "getegid", "getresuid", "getresgid", "getgroups",
  "setuid", "setgid", "setreuid", "setregid", "setresuid", "setresgid", "setgroups", "setfsuid", "setfsgid",
  // memory
  "brk", "mmap", "munmap", "mremap", "mprotect", "madvise", "msync", "mincore", "mlock", "mlock2", "munlock",
  "mlockall", "munlockall", "membarrier", "pkey_alloc", "pkey_free", "pkey_mprotect", "memfd_create",
  "get_mempolicy", "set_mempolicy", "mbind", // NUMA placement of the caller's own memory (procps uses it)
  // signals and timers
  "rt_sigaction", "rt_sigprocmask", "rt_sigreturn", "rt_sigsuspend", "rt_sigpending", "rt_sigtimedwait",
  "rt_sigqueueinfo", "rt_tgsigqueueinfo", "sigaltstack", "signalfd", "signalfd4", "pause", "alarm",
  "getitimer", "setitimer", "timer_create", "timer_settime", "timer_gettime", "timer_getoverrun", "timer_delete",
  "timerfd_create", "timerfd_settime", "timerfd_gettime",
  // clocks (reading only; setting them is denied below)
  "clock_gettime", "clock_getres", "clock_nanosleep", "nanosleep", "gettimeofday", "time",
  // file descriptors and I/O
  "read", "write", "readv", "writev", "pread64", "pwrite64", "preadv", "pwritev", "preadv2", "pwritev2",
  "close", "close_range", "lseek", "dup", "dup2", "dup3", "fcntl", "flock",
  "fsync", "fdatasync", "sync", "syncfs", "sync_file_range", "ftruncate", "truncate", "fallocate", "fadvise64",
  "sendfile", "copy_file_range", "splice", "tee", "vmsplice", "pipe", "pipe2",
  "select", "pselect6", "poll", "ppoll", "epoll_create", "epoll_create1", "epoll_ctl", "epoll_wait",
  "epoll_pwait", "epoll_pwait2", "eventfd", "eventfd2", "inotify_init", "inotify_init1",
  "inotify_add_watch", "inotify_rm_watch",
  // the file system
  "stat", "fstat", "lstat", "newfstatat", "statx", "statfs", "fstatfs", "access", "faccessat", "faccessat2",
  "getdents", "getdents64", "getcwd", "chdir", "fchdir", "mkdir", "mkdirat", "rmdir", "unlink", "unlinkat",
  "rename", "renameat", "renameat2", "link", "linkat", "symlink", "symlinkat", "readlink", "readlinkat",
  "chown", "fchown", "lchown", "fchownat", "utime", "utimes", "utimensat", "futimesat",
  // open, openat, creat, chmod, fchmod, fchmodat(2), mknod(at) are allowed below, by mode;
  // openat2 is not (ENOSYS: its mode is out of the filter's sight, libc falls back to openat)
  "getxattr", "lgetxattr", "fgetxattr", "listxattr", "llistxattr", "flistxattr",
  "setxattr", "lsetxattr", "fsetxattr", "removexattr", "lremovexattr", "fremovexattr",
  // sockets (socket and socketpair are allowed below per address family)
  "bind", "listen", "accept", "accept4", "connect", "getsockname", "getpeername", "sendto", "recvfrom",
  "sendmsg", "recvmsg", "sendmmsg", "recvmmsg", "shutdown", "setsockopt", "getsockopt",
  // System V and POSIX IPC: the sandbox has its own IPC namespace
  "shmget", "shmat", "shmdt", "shmctl", "semget", "semop", "semtimedop", "semctl",
  "msgget", "msgsnd", "msgrcv", "msgctl", "mq_open", "mq_unlink", "mq_timedsend", "mq_timedreceive",
  "mq_notify", "mq_getsetattr",
  // randomness, and filters that only restrict the caller further
  "getrandom", "seccomp",
  // host names of the sandbox's own UTS namespace
  "sethostname", "setdomainname",
];

/** Families `strict` lets a program open a socket in; the network namespace bounds where they reach. */
const STRICT_SOCKET_FAMILIES = [AF.UNIX, AF.INET, AF.INET6, AF.NETLINK];

/**
 * `strict`: only the syscalls ordinary programs need; anything else answers ENOSYS, as an
 * older kernel would, so libc and runtimes fall back instead of failing (clone3 falls
 * under this too). The escape classes answer the same errno as under `default`.
 */
export const STRICT_PROFILE: SeccompProfile = {
  name: "strict",
  defaultAction: enosys,
  rules: [
    { names: STRICT_ALLOWED, action: allow },
    { names: ["clone"], action: allow, args: [{ index: 0, op: "masked_eq", mask: CLONE_NEW_ANY, value: 0 }] },
    // ioctl and socket: the equality denials in ESCAPE_DENIALS win over these catch-alls.
    { names: ["ioctl"], action: allow, args: [{ index: 1, op: "ge", value: 0 }] },
    ...STRICT_SOCKET_FAMILIES.map(
      (af): SeccompRule => ({ names: ["socket", "socketpair"], action: allow, args: [{ index: 0, op: "masked_eq", mask: LOW32, value: af }] }),
    ),
    { names: ["socket", "socketpair"], action: eafnosupport, args: [{ index: 0, op: "ge", value: 0 }] },
    { names: ["personality"], action: allow, args: [{ index: 0, op: "masked_eq", mask: LOW32, value: PER_LINUX }] },
    { names: ["personality"], action: allow, args: [{ index: 0, op: "masked_eq", mask: LOW32, value: PER_QUERY }] },
    // The syscalls that take a file mode, through catch-alls on the mode argument: the
    // setuid/setgid denials in ESCAPE_DENIALS (masked_eq) win over these.
    ...byModeArgument().map(([index, names]): SeccompRule => ({ names, action: allow, args: [{ index, op: "ge", value: 0 }] })),
    // Disjoint from the allows above: namespace flags, TIOCSTI, vsock, other personas, setuid modes.
    ...ESCAPE_DENIALS,
  ],
};

export const BUILTIN_PROFILES = { default: DEFAULT_PROFILE, strict: STRICT_PROFILE } as const;
