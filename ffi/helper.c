/*
 * cave's only native code: what must happen between clone() and execve().
 *
 * Bun is multi-threaded, so it can neither unshare(CLONE_NEWUSER) nor run JS in a
 * forked child. TypeScript decides everything (see src/sandbox/ops.ts) and hands this
 * file a spec: clone flags, a flat list of setup operations, the argv/envp to run.
 * The child interprets the list, becomes a tiny PID-1 init, and forks the command.
 *
 * Rules for this file: no libc headers, no malloc, only raw system calls through
 * syscall(2) after clone. Every failure is reported to the parent as {step, errno}
 * over the status pipe and ends the child: the sandbox fails closed.
 */

typedef unsigned long u64;
typedef long i64;
typedef unsigned int u32;
typedef int i32;

extern long syscall(long number, ...);
extern int *__errno_location(void);
/* glibc's clone(): runs fn on its own stack, which CLONE_VM children need. */
extern int clone(int (*fn)(void *), void *stack, int flags, void *arg, ...);

#if defined(__x86_64__)
#define NR_read 0
#define NR_write 1
#define NR_open 2
#define NR_close 3
#define NR_poll 7
#define NR_rt_sigaction 13
#define NR_rt_sigprocmask 14
#define NR_ioctl 16
#define NR_dup2 33
#define NR_getpid 39
#define NR_socket 41
#define NR_clone 56
#define NR_execve 59
#define NR_exit 60
#define NR_wait4 61
#define NR_kill 62
#define NR_chdir 80
#define NR_mkdir 83
#define NR_symlink 88
#define NR_chmod 90
#define NR_chown 92
#define NR_setresuid 117
#define NR_setresgid 119
#define NR_setsid 112
#define NR_setgroups 116
#define NR_capset 126
#define NR_rt_sigtimedwait 128
#define NR_prctl 157
#define NR_setrlimit 160
#define NR_pivot_root 155
#define NR_mount 165
#define NR_umount2 166
#define NR_sethostname 170
#define NR_exit_group 231
#define NR_unshare 272
#define NR_setns 308
#define NR_seccomp 317
#define NR_open_tree 428
#define NR_move_mount 429
#define NR_clone3 435
#define NR_close_range 436
#define NR_mount_setattr 442
#define NR_pipe2 293
#define NR_prlimit64 302
#define NR_sendmsg 46
#define NR_fcntl 72
#define NR_execveat 322
#elif defined(__aarch64__)
#define NR_read 63
#define NR_write 64
#define NR_close 57
#define NR_rt_sigaction 134
#define NR_rt_sigprocmask 135
#define NR_ioctl 29
#define NR_dup3 24
#define NR_getpid 172
#define NR_socket 198
#define NR_clone 220
#define NR_execve 221
#define NR_exit 93
#define NR_wait4 260
#define NR_kill 129
#define NR_chdir 49
#define NR_mkdirat 34
#define NR_symlinkat 36
#define NR_fchmodat 53
#define NR_fchownat 54
#define NR_openat 56
#define NR_ppoll 73
#define NR_setresuid 147
#define NR_setresgid 149
#define NR_setsid 157
#define NR_setgroups 159
#define NR_capset 91
#define NR_rt_sigtimedwait 137
#define NR_prctl 167
#define NR_setrlimit 164
#define NR_pivot_root 41
#define NR_mount 40
#define NR_umount2 39
#define NR_sethostname 161
#define NR_exit_group 94
#define NR_unshare 97
#define NR_setns 268
#define NR_seccomp 277
#define NR_open_tree 428
#define NR_move_mount 429
#define NR_clone3 435
#define NR_close_range 436
#define NR_mount_setattr 442
#define NR_pipe2 59
#define NR_prlimit64 261
#define NR_sendmsg 211
#define NR_fcntl 25
#define NR_execveat 281
#else
#error "cave's helper supports x86_64 and aarch64"
#endif

#define AT_FDCWD (-100)
#define O_WRONLY 01
#define O_RDWR 02
#define O_CREAT 0100
#define O_CLOEXEC 02000000
#define O_NOFOLLOW 0400000
#define EEXIST 17
#define EINTR 4
#define ENOENT 2
#define EACCES 13
#define ENOEXEC 8
#define ENOSYS 38
#define ENAMETOOLONG 36
#define SIGKILL 9
#define SIGCHLD 17
#define CLONE_PIDFD 0x00001000
#define CLONE_INTO_CGROUP 0x200000000ULL
#define CLONE_NEWUSER 0x10000000
#define CLONE_VM 0x00000100
#define CLONE_VFORK 0x00004000
#define MNT_DETACH 2
#define AT_EMPTY_PATH 0x1000
#define AT_RECURSIVE 0x8000
#define OPEN_TREE_CLONE 1
#define OPEN_TREE_CLOEXEC O_CLOEXEC
#define MOVE_MOUNT_F_EMPTY_PATH 0x4
#define CLOSE_RANGE_CLOEXEC 4
#define PR_SET_PDEATHSIG 1
#define PR_SET_DUMPABLE 4
#define PR_CAPBSET_DROP 24
#define PR_SET_NO_NEW_PRIVS 38
#define PR_CAP_AMBIENT 47
#define PR_CAP_AMBIENT_CLEAR_ALL 4
#define SECCOMP_SET_MODE_FILTER 1
#define TIOCSCTTY 0x540E
#define TIOCSPTLCK 0x40045431
#define TIOCGPTPEER 0x5441
#define O_NOCTTY 0400
#define SIOCGIFFLAGS 0x8913
#define SIOCSIFFLAGS 0x8914
#define IFF_UP 0x1
#define POLLERR 0x008
#define POLLHUP 0x010
#define WNOHANG 1
#define __WALL 0x40000000

/* ---- the ABI shared with src/sandbox/native.ts (keep in step) ---------------------- */

enum op_kind {
  OP_MOUNT = 1,          /* a=src b=target c=fstype d=flags e=data */
  OP_MKDIR = 2,          /* a=path b=mode; flag IGNORE_EXIST */
  OP_SYMLINK = 3,        /* a=target b=linkpath */
  OP_CHDIR = 4,          /* a=path */
  OP_PIVOT_ROOT = 5,     /* pivot_root(".", ".") then detach the old root */
  OP_SETHOSTNAME = 6,    /* a=name b=len */
  OP_UNSHARE = 7,        /* a=flags */
  OP_SYNC = 8,           /* tell the parent, wait for its ack (uid maps, cgroups) */
  OP_SETID = 9,          /* a=uid b=gid: setgroups(0), setresgid, setresuid */
  OP_CREATE_FILE = 10,   /* a=path b=mode */
  OP_MOUNT_SETATTR = 11, /* a=path or NULL(slot) b=attr_set c=attr_clr d=flags e=slot (userns slot in hi 32) */
  OP_OPEN_TREE = 12,     /* a=path b=flags e=slot to store the fd in */
  OP_MOVE_MOUNT = 13,    /* e=slot a=target */
  OP_CHOWN = 14,         /* a=path b=uid c=gid */
  OP_SETRLIMIT = 15,     /* a=resource b=soft c=hard */
  OP_LO_UP = 16,         /* bring the loopback interface up */
  OP_UMOUNT = 17,        /* a=path b=flags */
  OP_USERNS = 18,        /* a=uid_map b=gid_map c=procdir e=slot: make a user namespace, keep its fd */
  OP_SETNS = 19,         /* e=slot b=nstype */
  OP_CHMOD = 20,         /* a=path b=mode */
  OP_WRITE = 21,         /* a=path b=data c=len: write a small file (O_WRONLY, no create) */
  OP_PTY = 22,           /* open a pty in the sandbox's devpts; master goes to the parent */
  OP_SETNS_FD = 23,      /* a=fd (a pidfd kept open) b=nstype: join another process's namespaces */
  OP_DEVNULL_STDIO = 24, /* a=path of /dev/null: make it fds 0..2 (a detached init holds no caller's fds) */
  OP_HANDOFF = 25,       /* e=slot: its fd goes to cave-init (argv[2]) instead of being closed */
};
#define OPF_IGNORE_EXIST 1
#define OPF_TOLERATE_EINVAL 2 /* mount_setattr: the filesystem cannot do this (idmap) */

struct cave_op {
  u32 kind, flags;
  u64 a, b, c, d, e;
};

enum msg_type {
  MSG_SYNC = 1,      /* step = op index waiting for the parent */
  MSG_SETUP_ERR = 2, /* step, err */
  MSG_EXEC_ERR = 3,  /* err: execve failed */
  MSG_EXIT = 4,      /* val = wait status of the command */
  MSG_STARTED = 5,   /* val = pid of the command (in the sandbox's pid namespace) */
  MSG_PTY = 6,       /* carries the pty master as SCM_RIGHTS */
};
struct cave_msg { i32 type, step, err, val; };

#define FLAG_NEW_SESSION 1
#define FLAG_NO_NEW_PRIVS 2
/* A persistent sandbox: init outlives cave (no parent-death signal) and, once set up, execs
   cave-init from init_fd, so it holds no Bun memory; argv is unused. */
#define FLAG_DETACHED 4
/* cave exec: the child joined a running sandbox (OP_SETNS_FD) and is not its init but the
   command's parent outside: SIGTERM from cave kills the command's process group. */
#define FLAG_EXEC 8
#define SLOTS 64

struct cave_spec {
  u64 clone_flags;
  i64 cgroup_fd;          /* >= 0: clone3 CLONE_INTO_CGROUP */
  i64 status_fd;          /* a unix stream socket: child writes cave_msg records */
  i64 sync_fd;            /* child reads one byte per OP_SYNC */
  u64 n_ops;
  const struct cave_op *ops;
  u64 n_keep;             /* fds (ascending) kept open in the child besides 0..2 */
  const i32 *keep;
  const char *const *argv;
  const char *const *envp;
  const char *path;       /* PATH used to find argv[0] */
  const char *workdir;
  u64 keep_caps;          /* capabilities the command keeps (bit n = cap n) */
  u64 seccomp_len;        /* number of struct sock_filter (8 bytes each) */
  const void *seccomp;
  i64 tty_fd;             /* >= 0: becomes the controlling terminal and fds 0..2 */
  u64 flags;
  i64 pidfd;              /* out */
  i64 pid;                /* out */
  u64 stacks;             /* out (x86_64): the mmap'd stacks of init, the userns holder and the command */
  i64 init_fd;            /* FLAG_DETACHED: a memfd holding cave-init */
  i64 stdio[3];           /* >= 0: becomes the command's fd 0, 1, 2 (pipes of `cave serve`) */
  i64 handoff_fd;         /* set by OP_HANDOFF: the user namespace cave-init enters itself */
};
#define STACK_INIT (256 * 1024)
#define STACK_SMALL (64 * 1024)
#define STACKS_SIZE (STACK_INIT + 3 * STACK_SMALL)

/* ---- small freestanding helpers --------------------------------------------------- */

static __attribute__((unused)) long sys_err(long r) { return r < 0 ? -(long)*__errno_location() : r; }

#if defined(__x86_64__)
/* Raw system calls: no errno, no thread-local storage. On x86_64 the sandbox's init
   shares Bun's memory (CLONE_VM), so it must not write the JS thread's errno. */
#define SHARED_VM 1
static inline long raw_syscall6(long n, long a1, long a2, long a3, long a4, long a5, long a6) {
  long ret;
  register long r10 __asm__("r10") = a4;
  register long r8 __asm__("r8") = a5;
  register long r9 __asm__("r9") = a6;
  __asm__ volatile("syscall"
                   : "=a"(ret)
                   : "a"(n), "D"(a1), "S"(a2), "d"(a3), "r"(r10), "r"(r8), "r"(r9)
                   : "rcx", "r11", "memory");
  return ret;
}
#define SYS_N(n, a, b, c, d, e, f, ...) \
  raw_syscall6((long)(n), (long)(a), (long)(b), (long)(c), (long)(d), (long)(e), (long)(f))
#define SYS(...) SYS_N(__VA_ARGS__, 0, 0, 0, 0, 0, 0, 0)

/* clone3 whose child runs fn(arg) on the stack named in args, then exits with its result.
   The child starts with the parent's registers, so fn and arg ride in r12/r13. */
static long clone3_fn(void *args, u64 size, int (*fn)(void *), void *arg) {
  long ret;
  register void *r12 __asm__("r12") = (void *)fn;
  register void *r13 __asm__("r13") = arg;
  __asm__ volatile("syscall\n\t"
                   "test %%rax, %%rax\n\t"
                   "jnz 1f\n\t"
                   "xor %%ebp, %%ebp\n\t"
                   "mov %%r13, %%rdi\n\t"
                   "call *%%r12\n\t"
                   "mov %%rax, %%rdi\n\t"
                   "mov $60, %%eax\n\t"
                   "syscall\n\t"
                   "hlt\n\t"
                   "1:\n\t"
                   : "=a"(ret)
                   : "a"(435L), "D"(args), "S"(size), "r"(r12), "r"(r13)
                   : "rcx", "r11", "memory");
  return ret;
}
#else
#define SYS(...) sys_err(syscall(__VA_ARGS__))
#endif

static void send_msg(int fd, int type, int step, int err, int val) {
  struct cave_msg m = {type, step, err, val};
  while (SYS(NR_write, fd, &m, sizeof m) == -EINTR) {}
}

static __attribute__((noreturn)) void die(int fd, int step, long err) {
  send_msg(fd, MSG_SETUP_ERR, step, (int)-err, 0);
  SYS(NR_exit_group, 125);
  __builtin_unreachable();
}

static u64 slen(const char *s) { u64 n = 0; while (s[n]) n++; return n; }

#if defined(__aarch64__)
static long do_mkdir(const char *p, u64 m) { return SYS(NR_mkdirat, AT_FDCWD, p, m); }
static long do_symlink(const char *t, const char *l) { return SYS(NR_symlinkat, t, AT_FDCWD, l); }
static long do_open(const char *p, long fl, u64 m) { return SYS(NR_openat, AT_FDCWD, p, fl, m); }
static long do_chown(const char *p, u64 u, u64 g) { return SYS(NR_fchownat, AT_FDCWD, p, u, g, 0); }
static long do_chmod(const char *p, u64 m) { return SYS(NR_fchmodat, AT_FDCWD, p, m); }
static long do_dup2(long a, long b) { return a == b ? b : SYS(NR_dup3, a, b, 0); }
#else
static long do_mkdir(const char *p, u64 m) { return SYS(NR_mkdir, p, m); }
static long do_symlink(const char *t, const char *l) { return SYS(NR_symlink, t, l); }
static long do_open(const char *p, long fl, u64 m) { return SYS(NR_open, p, fl, m); }
static long do_chown(const char *p, u64 u, u64 g) { return SYS(NR_chown, p, u, g); }
static long do_chmod(const char *p, u64 m) { return SYS(NR_chmod, p, m); }
static long do_dup2(long a, long b) { return SYS(NR_dup2, a, b); }
#endif

struct mount_attr { u64 attr_set, attr_clr, propagation, userns_fd; };
struct clone_args {
  u64 flags, pidfd, child_tid, parent_tid, exit_signal, stack, stack_size, tls, set_tid, set_tid_size, cgroup;
};
struct rlimit64 { u64 cur, max; };
struct ifreq_min { char name[16]; short flags; char pad[22]; };
struct kernel_sigaction { void *handler; u64 flags; void *restorer; u64 mask; };

static long write_file(const char *path, const char *data, u64 len) {
  long fd = do_open(path, O_WRONLY | O_CLOEXEC, 0);
  if (fd < 0) return fd;
  long r = SYS(NR_write, fd, data, len);
  SYS(NR_close, fd);
  return r < 0 ? r : 0;
}

/* Close every fd above 2 except the (ascending) keep list. */
static long close_others(const i32 *keep, u64 n) {
  u32 from = 3;
  for (u64 i = 0; i < n; i++) {
    u32 k = (u32)keep[i];
    if (k < from) continue;
    if (k > from) { long r = SYS(NR_close_range, from, k - 1, 0); if (r < 0) return r; }
    from = k + 1;
  }
  return SYS(NR_close_range, from, ~0U, 0);
}

/* A user namespace with the given maps, held by fd: a throwaway child enters it and
   waits while we (still privileged in the parent namespace) write its maps. It shares
   our memory (CLONE_VM) and runs on its own small stack: copying the page tables of
   a Bun-sized process costs milliseconds. */
#if !defined(SHARED_VM)
static char holder_stack[16384] __attribute__((aligned(16)));
#endif
static int holder_main(void *arg) {
  i32 *p = arg;
  char b;
  SYS(NR_close, p[1]); /* our copy of the write end: EOF must come when the parent closes its own */
  SYS(NR_read, p[0], &b, 1);
  return 0;
}

static long make_userns(const struct cave_spec *s, const char *uid_map, const char *gid_map, const char *procdir) {
  i32 p[2];
  long r = SYS(NR_pipe2, p, O_CLOEXEC);
  if (r < 0) return r;
#if defined(SHARED_VM)
  struct clone_args ca = {CLONE_VM | CLONE_NEWUSER, 0, 0, 0, SIGCHLD, s->stacks + STACK_INIT, STACK_SMALL, 0, 0, 0, 0};
  long pid = clone3_fn(&ca, sizeof ca, holder_main, p);
#else
  (void)s;
  long pid = sys_err(clone(holder_main, holder_stack + sizeof holder_stack, CLONE_VM | CLONE_NEWUSER | SIGCHLD, p));
#endif
  SYS(NR_close, p[0]);
  if (pid < 0) { SYS(NR_close, p[1]); return pid; }
  char path[256];
  /* "<procdir>/<pid>/" by hand: no snprintf here. procdir is a proc mounted for
     our own pid namespace, where the throwaway child has this pid. */
  char num[24]; int n = 0; long v = pid;
  do { num[n++] = (char)('0' + v % 10); v /= 10; } while (v);
  int k = 0;
  for (int i = 0; procdir[i] && k < 200; i++) path[k++] = procdir[i];
  path[k++] = '/';
  while (n) path[k++] = num[--n];
  path[k++] = '/';
  int base = k;
  const char *names[4] = {"setgroups", "uid_map", "gid_map", "ns/user"};
  const char *data[3] = {"deny", uid_map, gid_map};
  long fd = -1;
  for (int f = 0; f < 4; f++) {
    k = base;
    for (int i = 0; names[f][i]; i++) path[k++] = names[f][i];
    path[k] = 0;
    if (f < 3) r = write_file(path, data[f], slen(data[f]));
    else r = fd = do_open(path, O_CLOEXEC, 0);
    if (r < 0) break;
  }
  SYS(NR_close, p[1]);
  SYS(NR_wait4, pid, 0, __WALL, 0);
  return r < 0 ? r : fd;
}

/* A terminal made inside the sandbox (so ttyname() resolves in its /dev/pts);
   the master travels to cave over the status socket, the slave stays for the command. */
static long open_pty(int st, long *slave) {
  long m = do_open("/dev/ptmx", O_RDWR | O_NOCTTY | O_CLOEXEC, 0);
  if (m < 0) return m;
  int unlock = 0;
  long r = SYS(NR_ioctl, m, TIOCSPTLCK, &unlock);
  if (r == 0) r = *slave = SYS(NR_ioctl, m, TIOCGPTPEER, O_RDWR | O_NOCTTY);
  if (r >= 0) {
    struct cave_msg msg = {MSG_PTY, 0, 0, 0};
    struct { void *base; u64 len; } iov = {&msg, sizeof msg};
    union { char buf[24]; u64 align; } ctl = {{0}};
    u64 *hdr = (u64 *)ctl.buf;
    hdr[0] = 20;                               /* cmsg_len = CMSG_LEN(sizeof(int)) */
    ((i32 *)ctl.buf)[2] = 1;                   /* SOL_SOCKET */
    ((i32 *)ctl.buf)[3] = 1;                   /* SCM_RIGHTS */
    ((i32 *)ctl.buf)[4] = (i32)m;
    struct { void *name; u32 namelen; void *iov; u64 iovlen; void *control; u64 controllen; i32 flags; }
      mh = {0, 0, &iov, 1, ctl.buf, sizeof ctl.buf, 0};
    r = SYS(NR_sendmsg, st, &mh, 0x4000 /* MSG_NOSIGNAL */);
  }
  SYS(NR_close, m);
  return r < 0 ? r : 0;
}

static long lo_up(void) {
  long s = SYS(NR_socket, 2 /* AF_INET */, 2 /* SOCK_DGRAM */ | O_CLOEXEC, 0);
  if (s < 0) return s;
  struct ifreq_min ifr = {{'l', 'o', 0}, 0, {0}};
  long r = SYS(NR_ioctl, s, SIOCGIFFLAGS, &ifr);
  if (r == 0) { ifr.flags |= IFF_UP; r = SYS(NR_ioctl, s, SIOCSIFFLAGS, &ifr); }
  SYS(NR_close, s);
  return r;
}

static long run_op(struct cave_spec *s, const struct cave_op *op, long *slots, int step) {
  long r = 0;
  switch (op->kind) {
  case OP_MOUNT:
    r = SYS(NR_mount, op->a, op->b, op->c, op->d, op->e);
    break;
  case OP_MKDIR:
    r = do_mkdir((const char *)op->a, op->b);
    if (r == -EEXIST && (op->flags & OPF_IGNORE_EXIST)) r = 0;
    break;
  case OP_SYMLINK:
    r = do_symlink((const char *)op->a, (const char *)op->b);
    if (r == -EEXIST && (op->flags & OPF_IGNORE_EXIST)) r = 0;
    break;
  case OP_CHDIR:
    r = SYS(NR_chdir, op->a);
    break;
  case OP_PIVOT_ROOT:
    r = SYS(NR_pivot_root, ".", ".");
    if (r == 0) r = SYS(NR_umount2, ".", MNT_DETACH);
    if (r == 0) r = SYS(NR_chdir, "/");
    break;
  case OP_SETHOSTNAME:
    r = SYS(NR_sethostname, op->a, op->b);
    break;
  case OP_UNSHARE:
    r = SYS(NR_unshare, op->a);
    break;
  case OP_SYNC: {
    char b = 0;
    send_msg((int)s->status_fd, MSG_SYNC, step, 0, 0);
    do r = SYS(NR_read, s->sync_fd, &b, 1); while (r == -EINTR);
    if (r == 0) r = -EINTR; /* the parent went away */
    else if (r == 1) r = b == 0 ? 0 : -(long)(unsigned char)b;
    break;
  }
  case OP_SETID:
    /* EPERM here means setgroups is denied in this user namespace: nothing to drop */
    r = SYS(NR_setgroups, 0, 0);
    if (r < 0 && r != -1 /* EPERM */) break;
    r = SYS(NR_setresgid, op->b, op->b, op->b);
    if (r == 0) r = SYS(NR_setresuid, op->a, op->a, op->a);
    break;
  case OP_CREATE_FILE:
    r = do_open((const char *)op->a, O_CREAT | O_WRONLY | O_CLOEXEC | O_NOFOLLOW, op->b);
    if (r >= 0) r = SYS(NR_close, r);
    break;
  case OP_MOUNT_SETATTR: {
    struct mount_attr attr = {op->b, op->c, 0, 0};
    long ns_slot = (long)(op->e >> 32) - 1;
    long tree_slot = (long)(op->e & 0xffffffff) - 1;
    if (ns_slot >= 0) attr.userns_fd = (u64)slots[ns_slot];
    if (op->a)
      r = SYS(NR_mount_setattr, AT_FDCWD, op->a, op->d, &attr, sizeof attr);
    else
      r = SYS(NR_mount_setattr, slots[tree_slot], "", op->d | AT_EMPTY_PATH, &attr, sizeof attr);
    if (r == -22 && (op->flags & OPF_TOLERATE_EINVAL)) r = 0;
    break;
  }
  case OP_OPEN_TREE:
    r = SYS(NR_open_tree, AT_FDCWD, op->a, op->b | OPEN_TREE_CLOEXEC);
    if (r >= 0) { slots[op->e] = r; r = 0; }
    break;
  case OP_MOVE_MOUNT:
    r = SYS(NR_move_mount, slots[op->e], "", AT_FDCWD, op->a, MOVE_MOUNT_F_EMPTY_PATH);
    break;
  case OP_CHOWN:
    r = do_chown((const char *)op->a, op->b, op->c);
    break;
  case OP_CHMOD:
    r = do_chmod((const char *)op->a, op->b);
    break;
  case OP_SETRLIMIT: {
    struct rlimit64 rl = {op->b, op->c};
    r = SYS(NR_prlimit64, 0, op->a, &rl, 0);
    break;
  }
  case OP_LO_UP:
    r = lo_up();
    break;
  case OP_UMOUNT:
    r = SYS(NR_umount2, op->a, op->b);
    break;
  case OP_USERNS:
    r = make_userns(s, (const char *)op->a, (const char *)op->b, (const char *)op->c);
    if (r >= 0) { slots[op->e] = r; r = 0; }
    break;
  case OP_SETNS:
    r = SYS(NR_setns, slots[op->e], op->b);
    break;
  case OP_WRITE:
    r = write_file((const char *)op->a, (const char *)op->b, op->c);
    break;
  case OP_SETNS_FD:
    r = SYS(NR_setns, op->a, op->b);
    break;
  case OP_DEVNULL_STDIO: {
    long fd = do_open((const char *)op->a, O_RDWR | O_CLOEXEC, 0);
    if (fd < 0) { r = fd; break; }
    for (int i = 0; i < 3 && r >= 0; i++) r = do_dup2(fd, i);
    if (fd > 2) SYS(NR_close, fd);
    if (r > 0) r = 0;
    break;
  }
  case OP_HANDOFF:
    s->handoff_fd = slots[op->e];
    slots[op->e] = -1;
    r = s->handoff_fd >= 0 ? 0 : -9 /* EBADF */;
    break;
  case OP_PTY: {
    long slave = -1;
    r = open_pty((int)s->status_fd, &slave);
    if (r == 0) s->tty_fd = slave;
    break;
  }
  default:
    r = -ENOSYS;
  }
  return r;
}

/* Capabilities: keep only `keep` in every set, bounding included. */
struct cap_header { u32 version, pid; };
struct cap_data { u32 effective, permitted, inheritable; };
static long drop_caps(u64 keep) {
  for (long cap = 0; cap < 64; cap++) {
    if (keep & (1ULL << cap)) continue;
    long r = SYS(NR_prctl, PR_CAPBSET_DROP, cap, 0, 0, 0);
    if (r == -22 /* EINVAL: past the last cap */) break;
    if (r < 0) return r;
  }
  long r = SYS(NR_prctl, PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0);
  if (r < 0) return r;
  struct cap_header h = {0x20080522 /* _LINUX_CAPABILITY_VERSION_3 */, 0};
  struct cap_data d[2] = {
    {(u32)keep, (u32)keep, 0},
    {(u32)(keep >> 32), (u32)(keep >> 32), 0},
  };
  return SYS(NR_capset, &h, d);
}

static long reset_signals(void) {
  struct kernel_sigaction dfl = {0, 0, 0, 0};
  for (long sig = 1; sig <= 64; sig++) {
    if (sig == 9 || sig == 19) continue;
    SYS(NR_rt_sigaction, sig, &dfl, 0, 8);
  }
  u64 none = 0;
  return SYS(NR_rt_sigprocmask, 2 /* SIG_SETMASK */, &none, 0, 8);
}

/* execvp without malloc: try each PATH entry, remember EACCES like the shells do. */
static long exec_search(const char *file, const char *const *argv, const char *const *envp,
                        const char *path) {
  for (const char *c = file; *c; c++)
    if (*c == '/') return SYS(NR_execve, file, argv, envp);
  char buf[4096];
  u64 flen = slen(file);
  long err = -ENOENT;
  const char *p = path;
  while (1) {
    const char *end = p;
    while (*end && *end != ':') end++;
    u64 dlen = (u64)(end - p);
    if (dlen + 1 + flen + 1 <= sizeof buf) {
      u64 k = 0;
      for (u64 i = 0; i < dlen; i++) buf[k++] = p[i];
      if (dlen) buf[k++] = '/';
      for (u64 i = 0; i < flen; i++) buf[k++] = file[i];
      buf[k] = 0;
      long r = SYS(NR_execve, buf, argv, envp);
      if (r == -EACCES) err = r;
      else if (r != -ENOENT && r != -20 /* ENOTDIR */) return r;
    } else {
      err = -ENAMETOOLONG;
    }
    if (!*end) break;
    p = end + 1;
  }
  return err;
}

static __attribute__((noreturn)) void exec_command(const struct cave_spec *s) {
  int st = (int)s->status_fd;
  long r;
  for (int fd = 0; fd < 3; fd++)
    if (s->stdio[fd] >= 0 && (r = do_dup2(s->stdio[fd], fd)) < 0) die(st, -12, r);
  if (s->tty_fd >= 0) {
    if ((r = SYS(NR_setsid)) < 0) die(st, -10, r);
    if ((r = SYS(NR_ioctl, s->tty_fd, TIOCSCTTY, 0)) < 0) die(st, -11, r);
    for (int fd = 0; fd < 3; fd++)
      if ((r = do_dup2(s->tty_fd, fd)) < 0) die(st, -12, r);
    if (s->tty_fd > 2) SYS(NR_close, s->tty_fd);
  }
  if (s->flags & FLAG_EXEC) {
    /* Its own process group (the joiner kills it whole), and it dies with the joiner. */
    if (s->tty_fd < 0 && (r = SYS(NR_setsid)) < 0) die(st, -10, r);
    if ((r = SYS(NR_prctl, PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0)) < 0) die(st, -4, r);
  }
  if (s->workdir && (r = SYS(NR_chdir, s->workdir)) < 0) die(st, -13, r);
  if ((r = drop_caps(s->keep_caps)) < 0) die(st, -14, r);
  if ((r = SYS(NR_prctl, PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)) < 0) die(st, -15, r);
  if ((r = reset_signals()) < 0) die(st, -16, r);
  if ((r = SYS(NR_close_range, 3, ~0U, CLOSE_RANGE_CLOEXEC)) < 0) die(st, -17, r);
  if (s->seccomp_len) {
    struct { unsigned short len; const void *filter; } prog = {(unsigned short)s->seccomp_len, s->seccomp};
    if ((r = SYS(NR_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog)) < 0) die(st, -18, r);
  }
  r = exec_search(s->argv[0], s->argv, s->envp, s->path);
  send_msg(st, MSG_EXEC_ERR, 0, (int)-r, 0);
  SYS(NR_exit_group, r == -ENOENT ? 127 : 126);
  __builtin_unreachable();
}

#if !defined(SHARED_VM)
static char cmd_stack[65536] __attribute__((aligned(16)));
#endif
static int exec_main(void *arg) { exec_command(arg); }

/* PID 1 of the sandbox: forks the command, reaps every child, forwards signals,
   and reports the command's wait status before it exits (taking the namespace down). */
static __attribute__((noreturn)) void init_main(const struct cave_spec *s) {
  int st = (int)s->status_fd;
  u64 all = ~0ULL;
  long r;
  /* Block first, then reset what Bun installed: a handler or SIG_IGN for SIGCHLD
     would otherwise survive into init and swallow the command's exit. */
  if ((r = SYS(NR_rt_sigprocmask, 2, &all, 0, 8)) < 0) die(st, -1, r);
  struct kernel_sigaction dfl = {0, 0, 0, 0};
  for (long sig = 1; sig <= 64; sig++)
    if (sig != 9 && sig != 19) SYS(NR_rt_sigaction, sig, &dfl, 0, 8);
  /* vfork-style: the command shares init's memory until execve, so no page tables
     are copied; init waits (CLONE_VFORK) until the exec or the failure exit. */
#if defined(SHARED_VM)
  struct clone_args ca = {CLONE_VM | CLONE_VFORK, 0, 0, 0, SIGCHLD, s->stacks + STACK_INIT + STACK_SMALL, STACK_SMALL, 0, 0, 0, 0};
  long cmd = clone3_fn(&ca, sizeof ca, exec_main, (void *)s);
#else
  long cmd = sys_err(clone(exec_main, cmd_stack + sizeof cmd_stack, CLONE_VM | CLONE_VFORK | SIGCHLD, (void *)s));
#endif
  if (cmd < 0) die(st, -2, cmd);
  send_msg(st, MSG_STARTED, 0, 0, (int)cmd);
  /* init needs no privileges of its own from here on */
  drop_caps(0);
  SYS(NR_prctl, PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
  while (1) {
    struct { int signo, errno_, code, pad; char rest[112]; } info;
    long sig = SYS(NR_rt_sigtimedwait, &all, &info, 0, 8);
    if (sig < 0) continue;
    if (sig == SIGCHLD) {
      while (1) {
        int status = 0;
        long pid = SYS(NR_wait4, -1, &status, WNOHANG | __WALL, 0);
        if (pid <= 0) break;
        if (pid == cmd) {
          send_msg(st, MSG_EXIT, 0, 0, status);
          SYS(NR_exit_group, 0);
        }
      }
    } else if ((s->flags & FLAG_EXEC) && sig == 15 /* SIGTERM */) {
      /* cave exec's timeout or interruption: the command's whole process group */
      SYS(NR_kill, -cmd, SIGKILL);
      SYS(NR_kill, cmd, SIGKILL);
    } else {
      SYS(NR_kill, cmd, sig);
    }
  }
}

static void decimal(long v, char *out) {
  char digits[24];
  int n = 0, k = 0;
  do { digits[n++] = (char)('0' + v % 10); v /= 10; } while (v);
  while (n) out[k++] = digits[--n];
  out[k] = 0;
}

/* A persistent sandbox's init becomes cave-init: a fresh, tiny address space instead of
   Bun's. It is exec'd while still real root in the initial user namespace, so its memory
   (and its /proc files) belongs to that namespace as run's init's does; it enters the sandbox's
   user namespace itself (fd in argv[2]). The status socket survives the exec (argv[1]);
   cave-init reports MSG_STARTED on it once it holds the namespace, then closes it. */
static __attribute__((noreturn)) void exec_init(const struct cave_spec *s) {
  int st = (int)s->status_fd;
  long r;
  char num[24], ns[24];
  decimal(st, num);
  decimal(s->handoff_fd, ns);
  const char *argv[4] = {"cave-init", num, s->handoff_fd >= 0 ? ns : 0, 0};
  const char *envp[1] = {0};
  if ((r = SYS(NR_fcntl, st, 2 /* F_SETFD */, 0)) < 0) die(st, -6, r);
  if (s->handoff_fd >= 0 && (r = SYS(NR_fcntl, s->handoff_fd, 2, 0)) < 0) die(st, -6, r);
  r = SYS(NR_execveat, s->init_fd, "", argv, envp, AT_EMPTY_PATH);
  die(st, -7, r);
}

static __attribute__((noreturn)) void child_main(struct cave_spec *s);
static int child_entry(void *arg) { child_main(arg); }

static long spawn_clone(struct cave_spec *s) {
  i32 pidfd = -1;
  struct clone_args args = {s->clone_flags | CLONE_PIDFD, (u64)&pidfd, 0, 0, SIGCHLD, 0, 0, 0, 0, 0, 0};
  if (s->cgroup_fd >= 0) { args.flags |= CLONE_INTO_CGROUP; args.cgroup = (u64)s->cgroup_fd; }
#if defined(SHARED_VM)
  /* The child shares Bun's memory instead of copying its page tables (milliseconds for
     a Bun-sized process, plus copy-on-write faults for the whole run). It runs on stacks
     of its own and must never run a Bun signal handler: all signals stay blocked across
     clone, and the child installs default handlers before it unblocks anything. */
  long mem = SYS(9 /* mmap */, 0, STACKS_SIZE, 3 /* PROT_READ|PROT_WRITE */, 0x22 | 0x20000 /* PRIVATE|ANONYMOUS|STACK */, -1, 0);
  if (mem < 0) return mem;
  s->stacks = (u64)mem;
  args.flags |= CLONE_VM;
  args.stack = (u64)mem;
  args.stack_size = STACK_INIT;
  u64 all = ~0ULL, old = 0;
  SYS(NR_rt_sigprocmask, 2, &all, &old, 8);
  long pid = clone3_fn(&args, sizeof args, child_entry, s);
  SYS(NR_rt_sigprocmask, 2, &old, 0, 8);
  if (pid < 0) { SYS(11 /* munmap */, mem, STACKS_SIZE); s->stacks = 0; }
#else
  long pid = SYS(NR_clone3, &args, sizeof args);
  if (pid == -ENOSYS && s->cgroup_fd < 0)
    pid = SYS(NR_clone, s->clone_flags | CLONE_PIDFD | SIGCHLD, 0, &pidfd, 0, 0);
  if (pid == 0) child_main(s);
#endif
  if (pid > 0) s->pidfd = pidfd;
  return pid;
}

/* Frees the stacks of a sandbox whose init has been reaped (x86_64 only; else a no-op). */
void cave_release(struct cave_spec *s) {
  if (s->stacks) SYS(11 /* munmap */, s->stacks, STACKS_SIZE);
  s->stacks = 0;
}

/* Returns the child's pid (and spec->pidfd), or -errno. Called from the JS thread. */
long cave_spawn(struct cave_spec *s) {
  s->pidfd = -1;
  s->handoff_fd = -1;
  s->stacks = 0;
  long pid = spawn_clone(s);
  s->pid = pid;
  return pid;
}

/* ---- the child: single-threaded, on its own stack, no return to JS ---- */
static __attribute__((noreturn)) void child_main(struct cave_spec *s) {
  int st = (int)s->status_fd;
  long r, slots[SLOTS];
  for (int i = 0; i < SLOTS; i++) slots[i] = -1;
  if ((r = close_others(s->keep, s->n_keep)) < 0) die(st, -3, r);
  for (u64 i = 0; i < s->n_ops; i++)
    if ((r = run_op(s, &s->ops[i], slots, (int)i)) < 0) die(st, (int)i, r);
  for (int i = 0; i < SLOTS; i++) if (slots[i] >= 0) SYS(NR_close, slots[i]);
  if (s->flags & FLAG_NEW_SESSION) SYS(NR_setsid);
  /* Credentials are final now, so the parent-death signal sticks; if cave died
     before this point the status socket has hung up. A detached init has none. */
  if (!(s->flags & FLAG_DETACHED) && (r = SYS(NR_prctl, PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0)) < 0) die(st, -4, r);
  struct { int fd; short events, revents; } pfd = {st, 0, 0};
#if defined(__aarch64__)
  struct { long s, ns; } zero = {0, 0};
  r = SYS(NR_ppoll, &pfd, 1, &zero, 0, 8);
#else
  r = SYS(NR_poll, &pfd, 1, 0);
#endif
  if (r > 0 && (pfd.revents & (POLLERR | POLLHUP))) SYS(NR_exit_group, 125);
  if ((r = SYS(NR_prctl, PR_SET_DUMPABLE, 0, 0, 0, 0)) < 0) die(st, -5, r);
  if (s->flags & FLAG_DETACHED) exec_init(s);
  init_main(s);
}
