/*
 * A fork bomb: every process forks in a loop and never exits. The first process, once fork
 * has failed, waits until the sandbox has stopped growing, prints "fork <ERRNO>" and
 * "procs <N>" (the processes in its pid namespace) and then keeps bombing until it is killed.
 */
#include "probe.h"
#include <dirent.h>
#include <sched.h>
#include <stdlib.h>
#include <time.h>

static int count_procs(void) {
  DIR *d = opendir("/proc");
  if (!d) return -1;
  int n = 0;
  struct dirent *e;
  while ((e = readdir(d)))
    if (e->d_name[0] >= '1' && e->d_name[0] <= '9') n++;
  closedir(d);
  return n;
}

static void bomb(void) {
  for (;;)
    if (fork() < 0) sched_yield();
}

int main(void) {
  int err = 0;
  for (;;) {
    pid_t p = fork();
    if (p == 0) bomb();
    if (p < 0) { err = errno; break; }
  }
  /* Every child is bombing too: wait until the count holds still for 100 ms. */
  struct timespec tick = {0, 20 * 1000 * 1000};
  int last = -1, still = 0;
  while (still < 5) {
    nanosleep(&tick, 0);
    int n = count_procs();
    still = n == last ? still + 1 : 0;
    last = n;
  }
  printf("fork %s\nprocs %d\n", strerrorname_np(err), last);
  fflush(stdout);
  bomb();
}
