/*
 * cave-init: PID 1 of a persistent sandbox (`cave create` + `cave start`).
 *
 * `cave run`'s init is the helper's child itself and shares Bun's memory (CLONE_VM); a
 * sandbox that outlives the CLI must not pin a Bun-sized address space for its whole life,
 * so once setup is done the helper execs this program from a memfd (execveat, no path in
 * the sandbox). It is static, freestanding and tiny: no libc, no allocation, raw syscalls.
 *
 * It holds the sandbox's namespaces: reaps every process (exec'd commands are reparented
 * to it when their joiner exits), and on SIGTERM/SIGINT/SIGHUP sends SIGTERM to every
 * process in the namespace and exits once none is left (cave stop SIGKILLs it after the
 * grace period; its exit SIGKILLs the namespace).
 */
typedef unsigned long u64;

#if defined(__x86_64__)
#define NR_write 1
#define NR_close 3
#define NR_rt_sigaction 13
#define NR_rt_sigprocmask 14
#define NR_wait4 61
#define NR_kill 62
#define NR_capset 126
#define NR_rt_sigtimedwait 128
#define NR_prctl 157
#define NR_exit_group 231
#define NR_close_range 436
#define NR_setns 308
#define NR_setgroups 116
#define NR_setresgid 119
#define NR_setresuid 117
static long sys6(long n, long a, long b, long c, long d, long e, long f) {
  long ret;
  register long r10 __asm__("r10") = d;
  register long r8 __asm__("r8") = e;
  register long r9 __asm__("r9") = f;
  __asm__ volatile("syscall" : "=a"(ret) : "a"(n), "D"(a), "S"(b), "d"(c), "r"(r10), "r"(r8), "r"(r9) : "rcx", "r11", "memory");
  return ret;
}
#elif defined(__aarch64__)
#define NR_write 64
#define NR_close 57
#define NR_rt_sigaction 134
#define NR_rt_sigprocmask 135
#define NR_wait4 260
#define NR_kill 129
#define NR_capset 91
#define NR_rt_sigtimedwait 137
#define NR_prctl 167
#define NR_exit_group 94
#define NR_close_range 436
#define NR_setns 268
#define NR_setgroups 159
#define NR_setresgid 149
#define NR_setresuid 147
static long sys6(long n, long a, long b, long c, long d, long e, long f) {
  register long x8 __asm__("x8") = n;
  register long x0 __asm__("x0") = a;
  register long x1 __asm__("x1") = b;
  register long x2 __asm__("x2") = c;
  register long x3 __asm__("x3") = d;
  register long x4 __asm__("x4") = e;
  register long x5 __asm__("x5") = f;
  __asm__ volatile("svc #0" : "+r"(x0) : "r"(x8), "r"(x1), "r"(x2), "r"(x3), "r"(x4), "r"(x5) : "memory");
  return x0;
}
#else
#error "cave-init supports x86_64 and aarch64"
#endif
#define SYS_N(n, a, b, c, d, e, f, ...) sys6((long)(n), (long)(a), (long)(b), (long)(c), (long)(d), (long)(e), (long)(f))
#define SYS(...) SYS_N(__VA_ARGS__, 0, 0, 0, 0, 0, 0, 0)

#define SIGHUP 1
#define SIGINT 2
#define SIGKILL 9
#define SIGTERM 15
#define SIGCHLD 17
#define SIGSTOP 19
#define ECHILD 10
#define WNOHANG 1
#define __WALL 0x40000000

struct kernel_sigaction { void *handler; u64 flags; void *restorer; u64 mask; };
struct cap_header { unsigned version, pid; };
struct cap_data { unsigned effective, permitted, inheritable; };

static __attribute__((noreturn)) void quit(long code) {
  SYS(NR_exit_group, code);
  __builtin_unreachable();
}

/* Reaps what has exited; returns -ECHILD once no child is left. */
static long reap(void) {
  while (1) {
    int status = 0;
    long pid = SYS(NR_wait4, -1, &status, WNOHANG | __WALL, 0);
    if (pid <= 0) return pid;
  }
}

/* argv[1]: the status socket, on which one MSG_STARTED record says init is in charge.
   argv[2]: the sandbox's user namespace, entered here so that this process's memory was
   made (by execve) in the initial user namespace: the sandbox's root cannot trace it or
   read its /proc files, as with `cave run`'s init. */
static long parse_fd(const char *s) {
  long v = 0;
  if (!s || !*s) return -1;
  for (; *s; s++) {
    if (*s < '0' || *s > '9' || v > 100000) return -1;
    v = v * 10 + (*s - '0');
  }
  return v;
}

void __attribute__((noreturn, used)) init_c(long *sp) {
  u64 all = ~0ULL;
  long argc = sp[0];
  char **argv = (char **)(sp + 1);
  long st = argc > 1 ? parse_fd(argv[1]) : -1;
  long userns = argc > 2 ? parse_fd(argv[2]) : -1;
  /* Fail closed: an init that cannot block signals, drop privileges or close fds exits
     (its exit ends the namespace) and cave reports the sandbox as not running. */
  if (SYS(NR_rt_sigprocmask, 2 /* SIG_SETMASK */, &all, 0, 8) < 0) quit(120);
  /* SIG_IGN survives execve; a blocked default signal is what sigtimedwait collects. */
  struct kernel_sigaction dfl = {0, 0, 0, 0};
  for (long sig = 1; sig <= 64; sig++)
    if (sig != SIGKILL && sig != SIGSTOP) SYS(NR_rt_sigaction, sig, &dfl, 0, 8);
  if (SYS(NR_prctl, 4 /* PR_SET_DUMPABLE */, 0, 0, 0, 0) < 0) quit(121);
  if (userns >= 0) {
    if (SYS(NR_setns, userns, 0x10000000 /* CLONE_NEWUSER */) < 0) quit(126);
    SYS(NR_close, userns);
    /* EPERM: setgroups is denied in the sandbox's user namespace; there are none to drop */
    long r = SYS(NR_setgroups, 0, 0);
    if (r < 0 && r != -1) quit(126);
    if (SYS(NR_setresgid, 0, 0, 0) < 0 || SYS(NR_setresuid, 0, 0, 0) < 0) quit(126);
    if (SYS(NR_prctl, 4 /* PR_SET_DUMPABLE */, 0, 0, 0, 0) < 0) quit(121);
  }
  for (long cap = 0; cap < 64; cap++) {
    long r = SYS(NR_prctl, 24 /* PR_CAPBSET_DROP */, cap, 0, 0, 0);
    if (r == -22) break;
    if (r < 0) quit(123);
  }
  if (SYS(NR_prctl, 47 /* PR_CAP_AMBIENT */, 4 /* CLEAR_ALL */, 0, 0, 0) < 0) quit(123);
  struct cap_header h = {0x20080522, 0};
  struct cap_data d[2] = {{0, 0, 0}, {0, 0, 0}};
  if (SYS(NR_capset, &h, d) < 0) quit(123);
  if (SYS(NR_prctl, 38 /* PR_SET_NO_NEW_PRIVS */, 1, 0, 0, 0) < 0) quit(124);
  if (st >= 0) {
    int msg[4] = {5 /* MSG_STARTED */, 0, 0, 0};
    if (SYS(NR_write, st, msg, sizeof msg) != sizeof msg) quit(125);
  }
  /* Nothing of cave's stays open in the sandbox, the status socket included. */
  if (SYS(NR_close_range, 3, ~0U, 0) < 0) quit(122);

  int stopping = 0;
  while (1) {
    struct { int signo, errno_, code, pad; char rest[112]; } info;
    long sig = SYS(NR_rt_sigtimedwait, &all, &info, 0, 8);
    if (sig < 0) continue;
    if (sig == SIGCHLD) {
      if (reap() == -ECHILD && stopping) quit(0);
    } else if (sig == SIGTERM || sig == SIGINT || sig == SIGHUP) {
      stopping = 1;
      SYS(NR_kill, -1, SIGTERM); /* every process of the namespace but init */
      if (reap() == -ECHILD) quit(0);
    }
  }
}

/* The entry point: C gets the initial stack (argc, argv…) on a 16-byte aligned stack. */
#if defined(__x86_64__)
__asm__(".globl _start\n_start:\n\txor %ebp, %ebp\n\tmov %rsp, %rdi\n\tand $-16, %rsp\n\tcall init_c\n\thlt\n");
#else
/* the kernel starts aarch64 processes with sp already 16-byte aligned */
__asm__(".globl _start\n_start:\n\tmov x29, #0\n\tmov x30, #0\n\tmov x0, sp\n\tbl init_c\n");
#endif
