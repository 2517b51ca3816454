/*
 * Leaked descriptors: lists the fds the process holds (/proc/self/fd, minus the one used to
 * list it), then tries to use each of fds 3..20 as a directory to reach the host's
 * /etc/hostname, as an inherited fd to the host's "/" would allow. Prints "fds <list>" and one
 * "openat_fd<N> <result>" line per fd.
 */
#include "probe.h"
#include <dirent.h>
#include <fcntl.h>
#include <stdlib.h>

int main(void) {
  DIR *d = opendir("/proc/self/fd");
  if (!d) { printf("fds %s\n", strerrorname_np(errno)); return 1; }
  int self = dirfd(d), seen[1024], n = 0;
  struct dirent *e;
  while ((e = readdir(d)))
    if (e->d_name[0] != '.' && atoi(e->d_name) != self && n < 1024) seen[n++] = atoi(e->d_name);
  closedir(d);
  printf("fds");
  for (int i = 0; i < n; i++) printf(" %d", seen[i]);
  printf("\n");
  for (int fd = 3; fd <= 20; fd++) {
    char name[32];
    snprintf(name, sizeof name, "openat_fd%d", fd);
    int r = openat(fd, "etc/hostname", O_RDONLY | O_CLOEXEC);
    report(name, r);
  }
  return 0;
}
