/*
 * Escape attempts by syscall, one per name: namespaces, mounts, other processes (the sandbox's
 * init is pid 1), kernel attack surfaces, kernel code loading, personality and vsock (the
 * x32/i386 ABIs are abi.c's). Prints one "<name> <result>" line per attempt (see probe.h).
 * Arguments are real attack arguments where that is harmless (an ext4 root handle, init's
 * memory), and chosen to do nothing where the call would succeed.
 */
#include "probe.h"
#include <fcntl.h>
#include <linux/bpf.h>
#include <linux/io_uring.h>
#include <linux/perf_event.h>
#include <sched.h>
#include <stdint.h>
#include <sys/mount.h>
#include <sys/personality.h>
#include <sys/ptrace.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/uio.h>

#ifndef CLONE_NEWTIME
#define CLONE_NEWTIME 0x00000080
#endif
#define AF_VSOCK_ 40

/* ---- nested namespaces ---- */
static long raw_clone(unsigned long flags) {
  long r = syscall(SYS_clone, flags | SIGCHLD, 0, 0, 0, 0);
  if (r == 0) _exit(0);
  if (r > 0) waitpid((pid_t)r, 0, 0);
  return r;
}
static long clone3_with(uint64_t flags) {
  uint64_t args[11] = {0};
  args[0] = flags;
  args[4] = SIGCHLD;
  long r = syscall(SYS_clone3, args, sizeof args);
  if (r == 0) _exit(0);
  if (r > 0) waitpid((pid_t)r, 0, 0);
  return r;
}
static long setns_self(const char *ns, int type) {
  char path[64];
  snprintf(path, sizeof path, "/proc/self/ns/%s", ns);
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return fd;
  return syscall(SYS_setns, fd, type);
}

/* ---- mounts ---- */
struct mount_attr_ { uint64_t attr_set, attr_clr, propagation, userns_fd; };
static long clear_ro(const char *path) {
  struct mount_attr_ a = {0, MOUNT_ATTR_RDONLY, 0, 0};
  return syscall(SYS_mount_setattr, AT_FDCWD, path, 0, &a, sizeof a);
}

/* ---- other processes: pid 1 is the sandbox's init, a fork of cave ---- */
static long vm_init(long nr) {
  char local[64] = {0};
  struct iovec l = {local, sizeof local};
  /* init's stack is somewhere below the top of the user address space; any address will do:
     the permission check comes before the copy. */
  struct iovec r = {(void *)0x7ff000000000UL, sizeof local};
  return syscall(nr, 1, &l, 1, &r, 1, 0);
}
static long pidfd_getfd_init(void) {
  long pfd = syscall(SYS_pidfd_open, 1, 0);
  if (pfd < 0) return pfd;
  return syscall(SYS_pidfd_getfd, pfd, 0, 0);
}

/* ---- kernel attack surfaces ---- */
static long bpf_prog_load(void) {
  struct bpf_insn insns[2] = {
    {.code = BPF_ALU64 | BPF_MOV | BPF_K, .dst_reg = BPF_REG_0, .imm = 0},
    {.code = BPF_JMP | BPF_EXIT},
  };
  union bpf_attr a;
  memset(&a, 0, sizeof a);
  a.prog_type = BPF_PROG_TYPE_SOCKET_FILTER;
  a.insns = (uint64_t)(uintptr_t)insns;
  a.insn_cnt = 2;
  a.license = (uint64_t)(uintptr_t)"GPL";
  return syscall(SYS_bpf, BPF_PROG_LOAD, &a, sizeof a);
}
static long bpf_map_create(void) {
  union bpf_attr a;
  memset(&a, 0, sizeof a);
  a.map_type = BPF_MAP_TYPE_ARRAY;
  a.key_size = 4;
  a.value_size = 4;
  a.max_entries = 1;
  return syscall(SYS_bpf, BPF_MAP_CREATE, &a, sizeof a);
}
static long perf_open(int kernel_wide) {
  struct perf_event_attr a;
  memset(&a, 0, sizeof a);
  a.size = sizeof a;
  a.type = kernel_wide ? PERF_TYPE_HARDWARE : PERF_TYPE_SOFTWARE;
  a.config = kernel_wide ? PERF_COUNT_HW_CPU_CYCLES : PERF_COUNT_SW_CPU_CLOCK;
  a.disabled = 1;
  /* kernel_wide: every process on cpu 0, kernel included: what a side channel wants */
  return syscall(SYS_perf_event_open, &a, kernel_wide ? -1 : 0, kernel_wide ? 0 : -1, -1, 0);
}
static long io_uring(void) {
  struct io_uring_params p;
  memset(&p, 0, sizeof p);
  return syscall(SYS_io_uring_setup, 8, &p);
}
/* The "shocker" attack: a handle for inode 2 (the root of an ext4 file system) opened
   relative to any fd on that file system, here the host directory bound at /probes. */
static long shocker(void) {
  int mfd = open("/probes", O_RDONLY | O_DIRECTORY);
  if (mfd < 0) return mfd;
  struct { unsigned int bytes; int type; uint32_t ino, gen; } h = {8, 1 /* FILEID_INO32_GEN */, 2, 0};
  return syscall(SYS_open_by_handle_at, mfd, &h, O_RDONLY);
}
static long name_to_handle(void) {
  struct { unsigned int bytes; int type; unsigned char f[128]; } h = {128, 0, {0}};
  int mount_id;
  return syscall(SYS_name_to_handle_at, AT_FDCWD, "/probes", &h, &mount_id, 0);
}
static long finit_self(void) {
  int fd = open("/proc/self/exe", O_RDONLY | O_CLOEXEC);
  if (fd < 0) return fd;
  return syscall(SYS_finit_module, fd, "", 0);
}
static long vsock(int type) {
  long fd = syscall(SYS_socket, AF_VSOCK_, type, 0);
  if (fd >= 0) close((int)fd);
  return fd;
}


#define A(name, expr) static long a_##name(void) { return (long)(expr); }
A(unshare_user, syscall(SYS_unshare, CLONE_NEWUSER))
A(unshare_mount, syscall(SYS_unshare, CLONE_NEWNS))
A(unshare_net, syscall(SYS_unshare, CLONE_NEWNET))
A(unshare_pid, syscall(SYS_unshare, CLONE_NEWPID))
A(unshare_cgroup, syscall(SYS_unshare, CLONE_NEWCGROUP))
A(unshare_time, syscall(SYS_unshare, CLONE_NEWTIME))
A(clone_newuser, raw_clone(CLONE_NEWUSER))
A(clone_newns, raw_clone(CLONE_NEWNS))
A(clone_newnet, raw_clone(CLONE_NEWNET))
A(clone3_newuser, clone3_with(CLONE_NEWUSER))
A(clone3_plain, clone3_with(0))
A(setns_user, setns_self("user", CLONE_NEWUSER))
A(setns_mnt, setns_self("mnt", CLONE_NEWNS))
A(mount_tmpfs, syscall(SYS_mount, "none", "/mnt", "tmpfs", 0, 0))
A(mount_proc, syscall(SYS_mount, "proc", "/mnt", "proc", 0, 0))
A(mount_cgroup, syscall(SYS_mount, "cgroup", "/mnt", "cgroup", 0, "rdma,release_agent=/tmp/x"))
A(remount_sys_rw, syscall(SYS_mount, 0, "/sys", 0, MS_REMOUNT | MS_BIND, 0))
A(bind_root, syscall(SYS_mount, "/", "/mnt", 0, MS_BIND | MS_REC, 0))
A(umount_proc, syscall(SYS_umount2, "/proc", MNT_DETACH))
A(fsopen, syscall(SYS_fsopen, "tmpfs", 0))
A(fspick, syscall(SYS_fspick, AT_FDCWD, "/sys", 0))
A(open_tree, syscall(SYS_open_tree, AT_FDCWD, "/", 1 /* OPEN_TREE_CLONE */ | AT_RECURSIVE))
A(move_mount, syscall(SYS_move_mount, AT_FDCWD, "/tmp", AT_FDCWD, "/mnt", 0))
A(mount_setattr_sys, clear_ro("/sys"))
A(pivot_root, syscall(SYS_pivot_root, "/tmp", "/tmp"))
A(chroot, syscall(SYS_chroot, "/tmp"))
A(ptrace_attach_init, syscall(SYS_ptrace, PTRACE_ATTACH, 1, 0, 0))
A(ptrace_seize_init, syscall(SYS_ptrace, PTRACE_SEIZE, 1, 0, 0))
A(ptrace_traceme, syscall(SYS_ptrace, PTRACE_TRACEME, 0, 0, 0))
A(process_vm_readv_init, vm_init(SYS_process_vm_readv))
A(process_vm_writev_init, vm_init(SYS_process_vm_writev))
A(pidfd_getfd_init, pidfd_getfd_init())
A(kcmp_init, syscall(SYS_kcmp, getpid(), 1, 0 /* KCMP_FILE */, 0, 0))
A(keyctl_user_keyring, syscall(SYS_keyctl, 0 /* KEYCTL_GET_KEYRING_ID */, -4 /* @u */, 0))
A(keyctl_session, syscall(SYS_keyctl, 1 /* KEYCTL_JOIN_SESSION_KEYRING */, 0))
/* into the thread keyring (-1), so a key that got through dies with the attempt */
A(add_key, syscall(SYS_add_key, "user", "cave-probe", "x", 1, -1))
A(request_key, syscall(SYS_request_key, "user", "cave-probe-missing", 0, 0))
A(bpf_prog_load, bpf_prog_load())
A(bpf_map_create, bpf_map_create())
A(perf_event_self, perf_open(0))
A(perf_event_cpu, perf_open(1))
A(userfaultfd, syscall(SYS_userfaultfd, O_CLOEXEC))
A(userfaultfd_user_only, syscall(SYS_userfaultfd, O_CLOEXEC | 1 /* UFFD_USER_MODE_ONLY */))
A(io_uring_setup, io_uring())
A(open_by_handle_at, shocker())
A(name_to_handle_at, name_to_handle())
A(kexec_load, syscall(SYS_kexec_load, 0, 0, 0, 0))
A(kexec_file_load, syscall(SYS_kexec_file_load, -1, -1, 0, "", 0))
A(init_module, syscall(SYS_init_module, "\x7f" "ELF", 4, ""))
A(finit_module, finit_self())
A(delete_module, syscall(SYS_delete_module, "ext4", O_NONBLOCK))
A(personality_linux32, syscall(SYS_personality, (unsigned long)PER_LINUX32))
A(personality_no_randomize, syscall(SYS_personality, (unsigned long)ADDR_NO_RANDOMIZE))
A(personality_read_implies_exec, syscall(SYS_personality, (unsigned long)READ_IMPLIES_EXEC))
A(personality_query, syscall(SYS_personality, 0xffffffffUL))
A(vsock_stream, vsock(SOCK_STREAM))
A(vsock_dgram, vsock(SOCK_DGRAM))

static const struct attempt ATTEMPTS[] = {
#define E(n) {#n, a_##n},
  E(unshare_user) E(unshare_mount) E(unshare_net) E(unshare_pid) E(unshare_cgroup) E(unshare_time)
  E(clone_newuser) E(clone_newns) E(clone_newnet) E(clone3_newuser) E(clone3_plain) E(setns_user)
  E(setns_mnt) E(mount_tmpfs) E(mount_proc) E(mount_cgroup) E(remount_sys_rw) E(bind_root)
  E(umount_proc) E(fsopen) E(fspick) E(open_tree) E(move_mount) E(mount_setattr_sys) E(pivot_root)
  E(chroot) E(ptrace_attach_init) E(ptrace_seize_init) E(ptrace_traceme) E(process_vm_readv_init)
  E(process_vm_writev_init) E(pidfd_getfd_init) E(kcmp_init) E(keyctl_user_keyring)
  E(keyctl_session) E(add_key) E(request_key) E(bpf_prog_load) E(bpf_map_create)
  E(perf_event_self) E(perf_event_cpu) E(userfaultfd) E(userfaultfd_user_only) E(io_uring_setup)
  E(open_by_handle_at) E(name_to_handle_at) E(kexec_load) E(kexec_file_load) E(init_module)
  E(finit_module) E(delete_module) E(personality_linux32) E(personality_no_randomize)
  E(personality_read_implies_exec) E(personality_query) E(vsock_stream) E(vsock_dgram)
#undef E
};

int main(int argc, char **argv) {
  return run_attempts(ATTEMPTS, sizeof ATTEMPTS / sizeof ATTEMPTS[0], argc, argv);
}
