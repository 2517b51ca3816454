/*
 * Memory exhaustion: allocates and touches 8 MiB at a time, forever, so the pages are real.
 * Prints "MiB <n>" to stderr every 64 MiB; only the OOM killer (or a timeout) ends it.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(void) {
  for (long mib = 8;; mib += 8) {
    char *p = malloc(8 << 20);
    if (!p) { fprintf(stderr, "malloc failed at %ld MiB\n", mib); return 1; }
    memset(p, 0x5a, 8 << 20);
    if (mib % 64 == 0) fprintf(stderr, "MiB %ld\n", mib);
  }
}
