// Escape through other processes and inherited objects: the sandbox's init (pid 1) is a fork of
// cave, so its memory, environment, fds, root and executable are cave's on the host. Also host
// fds leaked into the sandbox, and overwriting the binary that runs the sandbox (CVE-2019-5736).
import { describe, expect, test } from "bun:test";
import { closeSync, openSync } from "node:fs";
import { CAVE, marker } from "../helpers/cave.ts";
import { clean, each, outcome, PROBES, results, useProbes } from "./harness.ts";

const probes = useProbes("escape", "fileops", "fds");

describe("the sandbox's init and other processes", () => {
  test("ptrace of init (attach, seize) and PTRACE_TRACEME get EPERM", async () => {
    const names = ["ptrace_attach_init", "ptrace_seize_init", "ptrace_traceme"];
    expect(outcome(await probes.run([`${PROBES}/escape`, ...names]))).toEqual(clean(each(names, "EPERM")));
  });

  test("process_vm_readv/writev, pidfd_getfd and kcmp against init get EPERM", async () => {
    const names = ["process_vm_readv_init", "process_vm_writev_init", "pidfd_getfd_init", "kcmp_init"];
    expect(outcome(await probes.run([`${PROBES}/escape`, ...names]))).toEqual(clean(each(names, "EPERM")));
  });

  test("init's environment (cave's own host environment), memory, fds, root, cwd and executable are EACCES", async () => {
    const secret = marker();
    const paths = [
      "read:/proc/1/environ",
      "read:/proc/1/mem",
      "read:/proc/1/maps",
      "list:/proc/1/fd",
      "list:/proc/1/map_files",
      "read:/proc/1/root/etc/hostname",
      "readlink:/proc/1/cwd",
      "readlink:/proc/1/exe",
    ];
    const r = await probes.run(
      [
        "sh",
        "-c",
        `${PROBES}/fileops ${paths.join(" ")}; echo leaked $(cat /proc/[0-9]*/environ 2>/dev/null | tr '\\0' '\\n' | grep -c ${secret})`,
      ],
      [],
      { env: { CAVE_TEST_SECRET: secret } },
    );
    expect(outcome(r)).toEqual(clean({ ...each(paths, "EACCES"), leaked: "0" }));
  });

  test("even with --seccomp none, init cannot be traced or read: it is not dumpable and is not the sandbox's", async () => {
    const r = await probes.run(
      [
        "sh",
        "-c",
        `${PROBES}/escape ptrace_attach_init process_vm_readv_init; ${PROBES}/fileops read:/proc/1/environ read:/proc/1/mem`,
      ],
      ["--seccomp", "none"],
    );
    expect({ exitCode: r.exitCode, results: results(r.stdout) }).toEqual({
      exitCode: 0,
      results: {
        ptrace_attach_init: "EPERM",
        process_vm_readv_init: "EPERM",
        "read:/proc/1/environ": "EACCES",
        "read:/proc/1/mem": "EACCES",
      },
    });
  });
});

describe("leaked host file descriptors", () => {
  const fds = Array.from({ length: 18 }, (_, i) => `openat_fd${i + 3}`);

  /** Starts `argv` with fds 3..6 open on the host's "/" and "/etc" (as a careless parent would). */
  async function withHostFds(argv: string[]): Promise<{ exitCode: number; stdout: string; stderr: string }> {
    const root = openSync("/", "r");
    const etc = openSync("/etc", "r");
    try {
      const proc = Bun.spawn(argv, {
        stdio: ["ignore", "pipe", "pipe", root, etc, root, etc],
        env: { PATH: process.env.PATH ?? "/usr/bin:/bin" },
        cwd: probes.dir(),
      });
      const [stdout, stderr, exitCode] = await Promise.all([
        new Response(proc.stdout).text(),
        new Response(proc.stderr).text(),
        proc.exited,
      ]);
      return { exitCode, stdout, stderr };
    } finally {
      closeSync(root);
      closeSync(etc);
    }
  }

  test("the way this test leaks fds works: the probe run directly reads the host's /etc/hostname through fd 3", async () => {
    const r = await withHostFds([`${probes.dir()}/fds`]);
    expect(results(r.stdout).openat_fd3).toBe("ok");
  });

  test("a host fd to / inherited by cave is closed inside: only 0-2 are open and openat via fds 3..20 gets EBADF", async () => {
    const r = await withHostFds([CAVE, "run", "--bind", `${probes.dir()}:${PROBES}:ro`, "--", `${PROBES}/fds`]);
    expect(outcome(r)).toEqual(clean({ fds: "0 1 2", ...each(fds, "EBADF") }));
  });
});

describe("the executables behind the sandbox", () => {
  test("/proc/1/exe (the cave binary, as in CVE-2019-5736) cannot be opened for writing or even read: EACCES", async () => {
    const ops = ["write:/proc/1/exe=x", "trunc:/proc/1/exe", "read:/proc/1/exe"];
    expect(outcome(await probes.run([`${PROBES}/fileops`, ...ops]))).toEqual(clean(each(ops, "EACCES")));
  });

  test("the command's own /proc/self/exe cannot be overwritten: ETXTBSY while it runs, EROFS on a read-only bind", async () => {
    const r = await probes.run([`${PROBES}/fileops`, "write:/proc/self/exe=x", "trunc:/proc/self/exe"]);
    expect(outcome(r)).toEqual(clean({ "write:/proc/self/exe=x": "ETXTBSY", "trunc:/proc/self/exe": "EROFS" }));
  });

  test("writing the cave binary at its host path changes only the sandbox's copy: the host's file is byte-for-byte intact", async () => {
    const hash = async () => new Bun.CryptoHasher("sha256").update(await Bun.file(CAVE).arrayBuffer()).digest("hex");
    const before = await hash();
    const [write, trunc, read] = [`write:${CAVE}=EVIL`, `trunc:${CAVE}`, `read:${CAVE}`];
    // The host root is the overlay's read-only lower layer: the writes copy the file up into the
    // sandbox's tmpfs, which is why they succeed and why the truncated copy reads 0 bytes.
    // A checkout under /tmp or /root is not visible at all: the sandbox has its own of both.
    const hidden = /^\/(tmp|root)\//.test(CAVE);
    const expected = hidden ? each([write, trunc, read], "ENOENT") : { [write]: "ok", [trunc]: "ok", [read]: "ok 0" };
    expect(outcome(await probes.run([`${PROBES}/fileops`, write, trunc, read]))).toEqual(clean(expected));
    expect(await hash()).toBe(before);
  });
});
