/*
 * Runs on the host (as the uid that is root inside the sandbox): plants or removes a key in
 * that uid's user keyring (@u), which the kernel shares with every process of the uid,
 * sandboxed or not. "add DESC" adds a "user" key that expires after 60 s and prints
 * "added <serial>"; "remove DESC" invalidates it and prints "removed" or the errno.
 */
#include "probe.h"
#include <stdlib.h>
#include <sys/syscall.h>

#define KEY_SPEC_USER_KEYRING (-4)
#define KEYCTL_SET_TIMEOUT 15
#define KEYCTL_SEARCH 10
#define KEYCTL_INVALIDATE 21

int main(int argc, char **argv) {
  if (argc != 3) return 2;
  if (strcmp(argv[1], "add") == 0) {
    long id = syscall(SYS_add_key, "user", argv[2], "cave-secret", 11, KEY_SPEC_USER_KEYRING);
    if (id < 0) { printf("add %s\n", strerrorname_np(errno)); return 1; }
    syscall(SYS_keyctl, KEYCTL_SET_TIMEOUT, id, 60);
    printf("added %ld\n", id);
    return 0;
  }
  if (strcmp(argv[1], "remove") == 0) {
    long id = syscall(SYS_keyctl, KEYCTL_SEARCH, KEY_SPEC_USER_KEYRING, "user", argv[2], 0);
    if (id < 0 || syscall(SYS_keyctl, KEYCTL_INVALIDATE, id) < 0) { printf("remove %s\n", strerrorname_np(errno)); return 1; }
    printf("removed\n");
    return 0;
  }
  return 2;
}
