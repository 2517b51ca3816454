/*
 * Shared by the security probes: each attempt prints one line, "<name> ok", "<name> <ERRNO>"
 * or "<name> killed:<SIGNAL>", so a test can assert the exact answer the kernel gave.
 * Attempts that could succeed (and change the probe) or be killed run in a forked child.
 */
#ifndef CAVE_PROBE_H
#define CAVE_PROBE_H
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

/* r < 0 means failure with errno set, as libc's syscall() reports it. */
__attribute__((unused)) static void report(const char *name, long r) {
  if (r < 0) printf("%s %s\n", name, strerrorname_np(errno));
  else printf("%s ok\n", name);
  fflush(stdout);
}

/* Runs fn in a child so a success or a kill cannot disturb the probe; reports its line. */
__attribute__((unused)) static void attempt(const char *name, long (*fn)(void)) {
  fflush(stdout);
  pid_t pid = fork();
  if (pid < 0) { printf("%s fork-failed:%s\n", name, strerrorname_np(errno)); return; }
  if (pid == 0) {
    errno = 0;
    long r = fn();
    report(name, r);
    _exit(0);
  }
  int st = 0;
  waitpid(pid, &st, 0);
  if (WIFSIGNALED(st)) printf("%s killed:SIG%s\n", name, sigabbrev_np(WTERMSIG(st)));
  fflush(stdout);
}

struct attempt { const char *name; long (*fn)(void); };

/* Runs the attempts named on the command line (all of them without arguments). */
__attribute__((unused)) static int run_attempts(const struct attempt *list, int n, int argc, char **argv) {
  for (int a = 1; a < argc; a++) {
    int known = 0;
    for (int i = 0; i < n; i++) known |= strcmp(argv[a], list[i].name) == 0;
    if (!known) { fprintf(stderr, "unknown attempt %s\n", argv[a]); return 2; }
  }
  for (int i = 0; i < n; i++) {
    int want = argc < 2;
    for (int a = 1; a < argc; a++) want |= strcmp(argv[a], list[i].name) == 0;
    if (want) attempt(list[i].name, list[i].fn);
  }
  return 0;
}
#endif
