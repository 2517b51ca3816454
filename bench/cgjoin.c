// How long it takes to put a new process into a fresh cgroup, by each route the kernel offers.
// Built and run by bench/hardening.sh (as root); prints one JSON object per mode on stdout:
//   {"mode": "...", "dir": "...", "fs": "cgroup" | "cgroup2" | "", "times_ms": [...]}
// Modes (ITER iterations each, GAP_MS of idle before each timed step, so no run inherits the
// previous one's state):
//   procs:<hierarchy>  fork a child that waits, mkdir a fresh cgroup, time open+write of the pid
//                      into its cgroup.procs (the route cave takes on cgroup v1); also prints
//                      mode "procs-again": the write that moves it back, right after the first
//   clone3             time clone3() + waitpid of a child that exits at once (the baseline)
//   clone3-into:<v2>   the same with CLONE_INTO_CGROUP into a fresh v2 cgroup (cave's route on v2)
// Usage: cgjoin ITER GAP_MS MODE...
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double now_ms(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec * 1e3 + t.tv_nsec / 1e6;
}

static void nap(int ms) {
  struct timespec t = {ms / 1000, (long)(ms % 1000) * 1000000};
  nanosleep(&t, NULL);
}

static void die(const char *what, const char *arg) {
  fprintf(stderr, "cgjoin: %s %s: %s\n", what, arg, strerror(errno));
  exit(1);
}

static void write_pid(const char *dir, pid_t pid) {
  char path[4096], buf[32];
  snprintf(path, sizeof path, "%s/cgroup.procs", dir);
  int fd = open(path, O_WRONLY | O_CLOEXEC);
  if (fd < 0) die("open", path);
  int n = snprintf(buf, sizeof buf, "%d", pid);
  if (write(fd, buf, n) != n) die("write", path);
  close(fd);
}

static void print(const char *mode, const char *dir, const double *t, int n) {
  struct statfs f;
  const char *fs = !*dir || statfs(dir, &f) < 0 ? "" : f.f_type == 0x63677270 ? "cgroup2" : "cgroup";
  printf("{\"mode\": \"%s\", \"dir\": \"%s\", \"fs\": \"%s\", \"times_ms\": [", mode, dir, fs);
  for (int i = 0; i < n; i++) printf("%s%.4f", i ? ", " : "", t[i]);
  printf("]}\n");
  fflush(stdout);
}

static void fresh(char *out, size_t len, const char *root, int i) {
  snprintf(out, len, "%s/cave-bench-cgjoin-%d-%d", root, (int)getpid(), i);
  if (mkdir(out, 0755) < 0) die("mkdir", out);
}

static void procs(const char *root, int iter, int gap, double *t, double *again) {
  for (int i = 0; i < iter; i++) {
    char dir[4096];
    int p[2];
    if (pipe2(p, O_CLOEXEC) < 0) die("pipe", "");
    pid_t pid = fork();
    if (pid < 0) die("fork", "");
    if (pid == 0) { // wait until the parent closes the pipe, then leave
      char c;
      close(p[1]);
      (void)!read(p[0], &c, 1);
      _exit(0);
    }
    close(p[0]);
    fresh(dir, sizeof dir, root, i);
    nap(gap);
    double t0 = now_ms();
    write_pid(dir, pid);
    t[i] = now_ms() - t0;
    t0 = now_ms();
    write_pid(root, pid); // back out, so the directory can go
    again[i] = now_ms() - t0;
    close(p[1]);
    waitpid(pid, NULL, 0);
    if (rmdir(dir) < 0) die("rmdir", dir);
  }
}

static void clone3s(const char *root, int iter, int gap, double *t) {
  for (int i = 0; i < iter; i++) {
    char dir[4096];
    struct clone_args a;
    memset(&a, 0, sizeof a);
    a.exit_signal = SIGCHLD;
    int fd = -1;
    if (root) {
      fresh(dir, sizeof dir, root, i);
      fd = open(dir, O_DIRECTORY | O_CLOEXEC);
      if (fd < 0) die("open", dir);
      a.flags = CLONE_INTO_CGROUP;
      a.cgroup = (uint64_t)fd;
    }
    nap(gap);
    double t0 = now_ms();
    long pid = syscall(SYS_clone3, &a, sizeof a);
    if (pid < 0) die("clone3", root ? dir : "");
    if (pid == 0) _exit(0);
    waitpid((pid_t)pid, NULL, 0);
    t[i] = now_ms() - t0;
    if (root) {
      close(fd);
      if (rmdir(dir) < 0) die("rmdir", dir);
    }
  }
}

int main(int argc, char **argv) {
  if (argc < 4) {
    fprintf(stderr, "usage: cgjoin ITER GAP_MS MODE...\n");
    return 2;
  }
  int iter = atoi(argv[1]), gap = atoi(argv[2]);
  double *t = calloc(iter, sizeof *t), *again = calloc(iter, sizeof *again);
  for (int m = 3; m < argc; m++) {
    char *mode = argv[m], *arg = strchr(mode, ':');
    if (arg) *arg++ = 0;
    if (!strcmp(mode, "procs") && arg) procs(arg, iter, gap, t, again);
    else if (!strcmp(mode, "clone3")) clone3s(NULL, iter, gap, t);
    else if (!strcmp(mode, "clone3-into") && arg) clone3s(arg, iter, gap, t);
    else {
      fprintf(stderr, "cgjoin: unknown mode %s\n", mode);
      return 2;
    }
    print(mode, arg ? arg : "", t, iter);
    if (!strcmp(mode, "procs")) print("procs-again", arg, again, iter);
  }
  return 0;
}
