/*
 * A syscall through another ABI, made by the process itself (not a forked child), so that a
 * seccomp kill ends the sandboxed command: "x32" is getpid with __X32_SYSCALL_BIT set, "i386"
 * is getpid through int 0x80 (number 20 there). Prints "<abi> returned" if the call came back,
 * whatever it returned; a filter that checks the architecture kills the process first.
 */
#include <stdio.h>
#include <string.h>

int main(int argc, char **argv) {
  if (argc != 2) return 2;
#if defined(__x86_64__)
  long r = 0;
  if (strcmp(argv[1], "x32") == 0)
    __asm__ volatile("syscall" : "=a"(r) : "a"(0x40000000L | 39) : "rcx", "r11", "memory");
  else if (strcmp(argv[1], "i386") == 0)
    __asm__ volatile("int $0x80" : "=a"(r) : "a"(20L) : "memory");
  else
    return 2;
  (void)r;
  printf("%s returned\n", argv[1]);
  return 0;
#else
  printf("%s not-x86_64\n", argv[1]);
  return 0;
#endif
}
