/*
 * TIOCSTI injection: pushes a line into the input queue of the terminal on fds 0, 1, 2 and on
 * /dev/tty, one distinct line per target, so that whoever reads the terminal next (the shell
 * that started cave) would run it. Prints "<target> <result>" per target, where /dev/tty that
 * cannot be opened prints "tty open:<ERRNO>". Also tries TIOCLINUX on fd 0.
 */
#include "probe.h"
#include <fcntl.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>

static long inject(int fd, const char *line) {
  for (const char *c = line; *c; c++)
    if (syscall(SYS_ioctl, fd, TIOCSTI, c) < 0) return -1;
  return 0;
}

int main(void) {
  report("fd0", inject(0, "echo injected-via-fd0\n"));
  report("fd1", inject(1, "echo injected-via-fd1\n"));
  report("fd2", inject(2, "echo injected-via-fd2\n"));
  int tty = open("/dev/tty", O_RDWR | O_NOCTTY | O_CLOEXEC);
  if (tty < 0) printf("tty open:%s\n", strerrorname_np(errno));
  else report("tty", inject(tty, "echo injected-via-tty\n"));
  char sub[2] = {2 /* TIOCL_SETSEL */, 0};
  report("tioclinux", syscall(SYS_ioctl, 0, TIOCLINUX, sub));
  return 0;
}
