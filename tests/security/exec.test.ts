// The escape attempts of this suite, made by a command started with `cave exec` in a running
// persistent sandbox instead of by `cave run`: exec joins the sandbox's namespaces from outside
// (setns), so its command must end up exactly as confined. Same probes, same expected answers.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { CaveRun } from "../helpers/cave.ts";
import { clean, each, outcome, PROBES, useProbes } from "./harness.ts";

const probes = useProbes("escape", "fileops");
const loop = existsSync("/dev/loop-control");
const mkfs = Bun.which("mkfs.ext4", { PATH: "/usr/sbin:/sbin:/usr/bin:/bin" }) !== null;
const skip = !loop || !mkfs;

let data = "";
let id = "";
const box = (args: string[]) => probes.cave(args, { env: { CAVE_DATA_DIR: data } });
const exec = (argv: string[]): Promise<CaveRun> => box(["exec", id, "--", ...argv]);
const attempt = async (names: string[]) => outcome(await exec([`${PROBES}/escape`, ...names]));

describe.skipIf(skip)(`through cave exec (${skip ? "skipped: needs loop devices and mkfs.ext4" : "a running persistent sandbox"})`, () => {
  beforeAll(async () => {
    data = mkdtempSync(join(tmpdir(), "cave-security-exec-"));
    const created = await box(["create", "--disk", "32M", "--bind", `${probes.dir()}:${PROBES}:ro`]);
    expect(created.exitCode).toBe(0);
    id = created.stdout.trim();
    expect((await box(["start", id])).exitCode).toBe(0);
  });
  afterAll(async () => {
    if (id) await box(["rm", "--force", id]);
    rmSync(data, { recursive: true, force: true });
  });

  test("nested namespaces: unshare, clone with CLONE_NEW* and setns get EPERM, clone3 ENOSYS", async () => {
    const eperm = ["unshare_user", "unshare_mount", "unshare_net", "unshare_pid", "unshare_cgroup", "unshare_time", "clone_newuser", "clone_newns", "clone_newnet", "setns_user", "setns_mnt"];
    const enosys = ["clone3_newuser", "clone3_plain"];
    expect(await attempt([...eperm, ...enosys])).toEqual(clean({ ...each(eperm, "EPERM"), ...each(enosys, "ENOSYS") }));
  });

  test("the mount family, old and new, pivot_root and chroot get EPERM", async () => {
    const names = ["mount_tmpfs", "mount_proc", "remount_sys_rw", "bind_root", "umount_proc", "pivot_root", "chroot", "fsopen", "fspick", "open_tree", "move_mount", "mount_setattr_sys"];
    expect(await attempt(names)).toEqual(clean(each(names, "EPERM")));
  });

  test("kernel attack surfaces get EPERM (keys, bpf, perf, userfaultfd, io_uring, handles, modules) and vsock EAFNOSUPPORT", async () => {
    const eperm = [
      "keyctl_user_keyring", "keyctl_session", "add_key", "request_key", "bpf_prog_load", "bpf_map_create", "perf_event_self", "perf_event_cpu",
      "userfaultfd", "userfaultfd_user_only", "io_uring_setup", "open_by_handle_at", "name_to_handle_at", "kexec_load", "kexec_file_load",
      "init_module", "finit_module", "delete_module",
    ];
    const vsock = ["vsock_stream", "vsock_dgram"];
    expect(await attempt([...eperm, ...vsock])).toEqual(clean({ ...each(eperm, "EPERM"), ...each(vsock, "EAFNOSUPPORT") }));
  });

  test("the sandbox's init (cave-init) cannot be traced or read: ptrace, process_vm_*, pidfd_getfd and kcmp get EPERM", async () => {
    const names = ["ptrace_attach_init", "ptrace_seize_init", "ptrace_traceme", "process_vm_readv_init", "process_vm_writev_init", "pidfd_getfd_init", "kcmp_init"];
    expect(await attempt(names)).toEqual(clean(each(names, "EPERM")));
  });

  test("init's environment, memory, fds, root, cwd and executable are EACCES (cave-init's memory belongs to the initial user namespace)", async () => {
    const ops = [
      "read:/proc/1/environ",
      "read:/proc/1/mem",
      "read:/proc/1/maps",
      "list:/proc/1/fd",
      "list:/proc/1/map_files",
      "read:/proc/1/root/etc/hostname",
      "readlink:/proc/1/cwd",
      "readlink:/proc/1/exe",
    ];
    expect(outcome(await exec([`${PROBES}/fileops`, ...ops]))).toEqual(clean(each(ops, "EACCES")));
  });

  test("no descriptor of cave's reaches the command: only 0-2 are open", async () => {
    const r = await exec(["ls", "/proc/self/fd"]);
    expect([r.exitCode, r.stdout.trim().split("\n").map(Number).sort()]).toEqual([0, [0, 1, 2, 3]]);
  });
});
