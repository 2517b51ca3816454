// Escape through the mount table: mounting, remounting read-only trees read-write, unmounting
// what hides host state, a cgroup v1 release_agent (CVE-2022-0492), the new mount API, and
// binds whose destination is a symlink planted in the rootfs to point a mount at the host.
import { afterEach, describe, expect, test } from "bun:test";
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { marker } from "../helpers/cave.ts";
import { clean, each, outcome, PROBES, tempDir, useProbes } from "./harness.ts";

const probes = useProbes("escape", "fileops");

describe("the mount table", () => {
  test("the mount binary fails (exit 32) and nothing appears on /mnt", async () => {
    const r = await probes.cave([
      "run",
      "--",
      "sh",
      "-c",
      "mount -t tmpfs none /mnt 2>/dev/null; echo mount=$?; echo on-mnt=$(grep -c ' /mnt ' /proc/self/mountinfo)",
    ]);
    expect(r).toEqual({ exitCode: 0, stdout: "mount=32\non-mnt=0\n", stderr: "" });
  });

  test("mount, a remount of /sys read-write, a bind of /, umount of /proc, pivot_root and chroot get EPERM", async () => {
    const names = ["mount_tmpfs", "mount_proc", "remount_sys_rw", "bind_root", "umount_proc", "pivot_root", "chroot"];
    expect(outcome(await probes.run([`${PROBES}/escape`, ...names]))).toEqual(clean(each(names, "EPERM")));
  });

  test("a cgroup v1 mount with a release_agent (CVE-2022-0492) gets EPERM", async () => {
    expect(outcome(await probes.run([`${PROBES}/escape`, "mount_cgroup"]))).toEqual(clean({ mount_cgroup: "EPERM" }));
  });

  test("the new mount API (fsopen, fspick, open_tree, move_mount, mount_setattr) gets EPERM", async () => {
    const names = ["fsopen", "fspick", "open_tree", "move_mount", "mount_setattr_sys"];
    expect(outcome(await probes.run([`${PROBES}/escape`, ...names]))).toEqual(clean(each(names, "EPERM")));
  });

  test("after every attempt to remount them, /sys and /proc/sys are still read-only", async () => {
    const script = `${PROBES}/escape remount_sys_rw mount_setattr_sys umount_proc; ${PROBES}/fileops statvfs:/sys statvfs:/proc/sys`;
    expect(outcome(await probes.run(["sh", "-c", script]))).toEqual(
      clean({
        remount_sys_rw: "EPERM",
        mount_setattr_sys: "EPERM",
        umount_proc: "EPERM",
        "statvfs:/sys": "ro",
        "statvfs:/proc/sys": "ro",
      }),
    );
  });
});

describe("symlinks on mount targets", () => {
  let dir: string;
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  /** A rootfs with the host's /usr bound in and two planted symlinks to /etc: absolute and ../-relative. */
  function plantedRootfs(): { root: string; src: string } {
    dir = tempDir("symlink");
    const root = join(dir, "root");
    for (const d of ["usr", "etc", "proc", "sys", "dev", "tmp", "root", "mnt"])
      mkdirSync(join(root, d), { recursive: true, mode: 0o755 });
    for (const [link, target] of [
      ["bin", "usr/bin"],
      ["lib", "usr/lib"],
      ["lib64", "usr/lib64"],
      ["evil", "/etc"],
      ["escape", "../../../../../../../../../../etc"],
    ]) {
      symlinkSync(target as string, join(root, link as string));
    }
    const src = join(dir, "src");
    mkdirSync(src, { mode: 0o755 });
    writeFileSync(join(src, "planted"), "from the bind\n", { mode: 0o644 });
    return { root, src };
  }

  test("a bind through a planted symlink to /etc (absolute or ../) lands in the sandbox's /etc, never the host's", async () => {
    const { root, src } = plantedRootfs();
    const name = marker();
    const mountsBefore = readFileSync("/proc/self/mountinfo", "utf8");
    const r = await probes.cave([
      "run",
      "--rootfs",
      root,
      "--bind",
      "/usr:/usr:ro",
      "--bind",
      `${src}:/evil/${name}`,
      "--bind",
      `${src}:/escape/${name}-rel`,
      "--",
      "/bin/sh",
      "-c",
      `cat /etc/${name}/planted /etc/${name}-rel/planted; ls /etc`,
    ]);
    expect(r).toEqual({ exitCode: 0, stdout: `from the bind\nfrom the bind\n${name}\n${name}-rel\n`, stderr: "" });
    // Neither the host's /etc nor the rootfs's own etc got the directories or the mounts.
    expect([existsSync(`/etc/${name}`), existsSync(`/etc/${name}-rel`)]).toEqual([false, false]);
    expect(readdirSync(join(root, "etc"))).toEqual([]);
    expect(readFileSync("/proc/self/mountinfo", "utf8")).toBe(mountsBefore);
  });

  test("a bind whose destination is the planted symlink itself fails closed with exit 125 and mounts nothing", async () => {
    const { root, src } = plantedRootfs();
    const mountsBefore = readFileSync("/proc/self/mountinfo", "utf8");
    const etcBefore = readdirSync("/etc").sort();
    for (const link of ["/evil", "/escape"]) {
      const r = await probes.cave([
        "run",
        "--rootfs",
        root,
        "--bind",
        "/usr:/usr:ro",
        "--bind",
        `${src}:${link}`,
        "--",
        "/bin/cat",
        "/etc/planted",
      ]);
      expect(r).toEqual({
        exitCode: 125,
        stdout: "",
        stderr: `cave: sandbox setup failed at "bind ${src} on ${link}": EINVAL (Invalid argument)\n`,
      });
    }
    expect(existsSync("/etc/planted")).toBe(false);
    expect(readdirSync("/etc").sort()).toEqual(etcBefore);
    expect(readFileSync("/proc/self/mountinfo", "utf8")).toBe(mountsBefore);
  });
});
