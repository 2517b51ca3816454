/*
 * Disk exhaustion: writes 1 MiB blocks to the file named by the first argument until a write
 * fails, prints "filled <path> <MiB written, rounded down> <ERRNO>", then tries to create a
 * one-byte file at every further argument and prints "<path> <ok|ERRNO>" for each.
 */
#include "probe.h"
#include <fcntl.h>
#include <stdlib.h>

int main(int argc, char **argv) {
  if (argc < 2) return 2;
  static char block[1 << 20];
  memset(block, 0x5a, sizeof block);
  int fd = open(argv[1], O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) { printf("filled %s open:%s\n", argv[1], strerrorname_np(errno)); return 1; }
  long long total = 0;
  for (;;) {
    ssize_t n = write(fd, block, sizeof block);
    if (n < 0) break;
    total += n;
    if (total > (64LL << 30)) { errno = 0; break; } /* no quota at all: stop at 64 GiB */
  }
  printf("filled %s %lld %s\n", argv[1], total >> 20, errno ? strerrorname_np(errno) : "no-error");
  for (int i = 2; i < argc; i++) {
    int f = open(argv[i], O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    long r = f < 0 ? -1 : write(f, "x", 1);
    report(argv[i], r);
  }
  return 0;
}
