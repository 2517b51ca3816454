/*
 * Reaching services outside the sandbox. Each argument is a target:
 *   tcp:<ipv4>:<port>   connect, send an HTTP/1.0 GET, print the status line
 *   unix:@<name>        connect to an abstract unix socket, print the first line it sends
 * Prints "<target> ok <first line>" or "<target> <ERRNO>" (of socket, connect or read).
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

static void first_line(const char *target, int fd) {
  char buf[512];
  long got = 0, n;
  while (got < (long)sizeof buf - 1 && (n = read(fd, buf + got, sizeof buf - 1 - (size_t)got)) > 0) {
    got += n;
    if (memchr(buf, '\n', (size_t)got)) break;
  }
  if (got == 0 && n < 0) { printf("%s %s\n", target, strerrorname_np(errno)); return; }
  buf[got] = 0;
  buf[strcspn(buf, "\r\n")] = 0;
  printf("%s ok %s\n", target, buf);
}

static void one(const char *target) {
  int fd;
  if (strncmp(target, "tcp:", 4) == 0) {
    char host[64];
    snprintf(host, sizeof host, "%s", target + 4);
    char *colon = strrchr(host, ':');
    if (!colon) { printf("%s bad-target\n", target); return; }
    *colon = 0;
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((unsigned short)atoi(colon + 1))};
    inet_pton(AF_INET, host, &a.sin_addr);
    fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof a) < 0) { printf("%s %s\n", target, strerrorname_np(errno)); return; }
    dprintf(fd, "GET / HTTP/1.0\r\nHost: %s\r\n\r\n", host);
  } else if (strncmp(target, "unix:@", 6) == 0) {
    struct sockaddr_un a = {.sun_family = AF_UNIX};
    size_t len = strlen(target + 6);
    if (len > sizeof a.sun_path - 1) len = sizeof a.sun_path - 1;
    memcpy(a.sun_path + 1, target + 6, len);
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0 || connect(fd, (struct sockaddr *)&a, (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + len)) < 0) {
      printf("%s %s\n", target, strerrorname_np(errno));
      return;
    }
  } else {
    printf("%s bad-target\n", target);
    return;
  }
  struct timeval tv = {5, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  first_line(target, fd);
  close(fd);
}

int main(int argc, char **argv) {
  for (int i = 1; i < argc; i++) {
    one(argv[i]);
    fflush(stdout);
  }
  return 0;
}
