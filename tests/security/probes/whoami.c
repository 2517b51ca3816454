/*
 * What a process holds after execve: real/effective/saved uid and gid, the capability sets and
 * NoNewPrivs. A setuid copy of this program shows whether the setuid bit was honoured.
 * Prints "uids R E S", "gids R E S", then the Cap*, NoNewPrivs and Seccomp lines of
 * /proc/self/status with the tab turned into a space.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <string.h>
#include <unistd.h>

int main(void) {
  uid_t r, e, s;
  gid_t gr, ge, gs;
  getresuid(&r, &e, &s);
  getresgid(&gr, &ge, &gs);
  printf("uids %u %u %u\ngids %u %u %u\n", r, e, s, gr, ge, gs);
  FILE *f = fopen("/proc/self/status", "r");
  if (!f) { perror("/proc/self/status"); return 1; }
  char line[256];
  while (fgets(line, sizeof line, f)) {
    if (strncmp(line, "Cap", 3) && strncmp(line, "NoNewPrivs", 10) && strncmp(line, "Seccomp:", 8)) continue;
    char *tab = strchr(line, '\t');
    if (tab) *tab = ' ';
    fputs(line, stdout);
  }
  return 0;
}
