// Escape by nesting namespaces: a new user namespace would hand the sandbox a fresh, full set of
// capabilities over new mount/net namespaces, the first step of most container-escape exploits.
// Tried with the unshare binary and with the raw unshare, clone, clone3 and setns syscalls.
import { describe, expect, test } from "bun:test";
import { clean, each, outcome, PROBES, useProbes } from "./harness.ts";

const probes = useProbes("escape");

describe("nested namespaces", () => {
  test("unshare -Ur fails with EPERM: no nested user namespace, so no fresh capabilities", async () => {
    const r = await probes.cave(["run", "--", "unshare", "-Ur", "id", "-u"]);
    expect(r).toEqual({ exitCode: 1, stdout: "", stderr: "unshare: unshare failed: Operation not permitted\n" });
  });

  test("unshare --net and --mount fail with EPERM as well", async () => {
    const r = await probes.cave([
      "run",
      "--",
      "sh",
      "-c",
      "unshare --net true 2>&1; echo net=$?; unshare --mount true 2>&1; echo mount=$?",
    ]);
    expect(r).toEqual({
      exitCode: 0,
      stdout:
        "unshare: unshare failed: Operation not permitted\nnet=1\nunshare: unshare failed: Operation not permitted\nmount=1\n",
      stderr: "",
    });
  });

  test("the unshare syscall gets EPERM for a user, mount, net, pid, cgroup or time namespace", async () => {
    const names = ["unshare_user", "unshare_mount", "unshare_net", "unshare_pid", "unshare_cgroup", "unshare_time"];
    expect(outcome(await probes.run([`${PROBES}/escape`, ...names]))).toEqual(clean(each(names, "EPERM")));
  });

  test("clone with CLONE_NEWUSER, CLONE_NEWNS or CLONE_NEWNET gets EPERM", async () => {
    const names = ["clone_newuser", "clone_newns", "clone_newnet"];
    expect(outcome(await probes.run([`${PROBES}/escape`, ...names]))).toEqual(clean(each(names, "EPERM")));
  });

  test("clone3 gets ENOSYS, so flags the filter cannot read (they sit in memory) never reach the kernel", async () => {
    const names = ["clone3_newuser", "clone3_plain"];
    expect(outcome(await probes.run([`${PROBES}/escape`, ...names]))).toEqual(clean(each(names, "ENOSYS")));
  });

  test("setns into a user or mount namespace gets EPERM", async () => {
    const names = ["setns_user", "setns_mnt"];
    expect(outcome(await probes.run([`${PROBES}/escape`, ...names]))).toEqual(clean(each(names, "EPERM")));
  });
});
