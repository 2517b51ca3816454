/*
 * File operations by path, for attempts on /proc, /sys, init's /proc entries and binaries.
 * Each argument is "<op>:<path>" or "write:<path>=<data>"; each prints "<arg> <result>":
 *   read:P      "ok <bytes read>" (up to 1 MiB) or the errno of open/read
 *   write:P=D   open O_WRONLY (no create, no truncate) and write D: "ok" or the errno
 *   trunc:P     open O_WRONLY|O_TRUNC: "ok" or the errno
 *   readlink:P  "ok <target>" or the errno
 *   list:P      "ok <entries, sorted, space-separated>" or the errno
 *   statvfs:P   "ro" or "rw" (the mount flag), or the errno
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>
#include <unistd.h>

static void fail(const char *arg) { printf("%s %s\n", arg, strerrorname_np(errno)); }

static int cmp(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

static void one(const char *arg) {
  const char *colon = strchr(arg, ':');
  if (!colon) { printf("%s bad-argument\n", arg); return; }
  char op[16] = {0};
  memcpy(op, arg, (size_t)(colon - arg) < sizeof op - 1 ? (size_t)(colon - arg) : sizeof op - 1);
  char path[4096];
  snprintf(path, sizeof path, "%s", colon + 1);
  if (strcmp(op, "read") == 0) {
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return fail(arg);
    static char buf[1 << 20];
    long total = 0, n;
    while ((n = read(fd, buf, sizeof buf - (size_t)total)) > 0 && total < (long)sizeof buf) total += n;
    if (n < 0) return fail(arg);
    printf("%s ok %ld\n", arg, total);
  } else if (strcmp(op, "write") == 0) {
    char *eq = strchr(path, '=');
    const char *data = eq ? eq + 1 : "";
    if (eq) *eq = 0;
    int fd = open(path, O_WRONLY | O_CLOEXEC);
    if (fd < 0) return fail(arg);
    if (write(fd, data, strlen(data)) < 0) return fail(arg);
    printf("%s ok\n", arg);
  } else if (strcmp(op, "trunc") == 0) {
    int fd = open(path, O_WRONLY | O_TRUNC | O_CLOEXEC);
    if (fd < 0) return fail(arg);
    printf("%s ok\n", arg);
  } else if (strcmp(op, "readlink") == 0) {
    char target[4096];
    ssize_t n = readlink(path, target, sizeof target - 1);
    if (n < 0) return fail(arg);
    target[n] = 0;
    printf("%s ok %s\n", arg, target);
  } else if (strcmp(op, "list") == 0) {
    DIR *d = opendir(path);
    if (!d) return fail(arg);
    char *names[4096];
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) && n < 4096)
      if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) names[n++] = strdup(e->d_name);
    qsort(names, (size_t)n, sizeof *names, cmp);
    printf("%s ok", arg);
    for (int i = 0; i < n; i++) printf(" %s", names[i]);
    printf("\n");
  } else if (strcmp(op, "statvfs") == 0) {
    struct statvfs s;
    if (statvfs(path, &s) < 0) return fail(arg);
    printf("%s %s\n", arg, (s.f_flag & ST_RDONLY) ? "ro" : "rw");
  } else {
    printf("%s bad-op\n", arg);
  }
}

int main(int argc, char **argv) {
  for (int i = 1; i < argc; i++) {
    one(argv[i]);
    fflush(stdout);
  }
  return 0;
}
