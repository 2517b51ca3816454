// Real sandboxes under the built-in seccomp profiles: a C probe (fixtures/seccomp-probe.c) tries
// each escape-class syscall and prints what it got; under `strict`, sh, python3, node, gcc and bun
// must still do real work. `none` runs the same probe to show the kernel alone would let them by.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { chmodSync, copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DEFAULT_PATH, type Bind, type SandboxSpec } from "../../src/sandbox/plan.ts";
import type { RunResult } from "../../src/sandbox/run.ts";

const RUNNER = join(import.meta.dir, "fixtures/run-sandbox.ts");
const PROBE_SOURCE = join(import.meta.dir, "fixtures/seccomp-probe.c");
const PROBE_DIR = "/cave-probe";
const SLOW = 60_000;

const inSandbox = (cmd: string) => Bun.which(cmd, { PATH: DEFAULT_PATH });
const gcc = inSandbox("gcc");
const onX64 = process.arch === "x64";

interface Outcome {
  stdout: string;
  stderr: string;
  result: RunResult;
}

/** One sandbox run in a child process, with the command's stdout and stderr captured. */
async function sandbox(argv: string[], profile: string, binds: Bind[] = []): Promise<Outcome> {
  const dir = mkdtempSync(join(tmpdir(), "cave-seccomp-run-"));
  try {
    const resultPath = join(dir, "result.json");
    const spec: SandboxSpec = { argv, env: {}, workdir: "/", hostname: "cave", rootfs: "/", binds, network: "none", diskBytes: 256 * 1024 * 1024, rlimits: [] };
    const proc = Bun.spawn([process.execPath, RUNNER, JSON.stringify({ spec, profile, timeoutMs: 20_000, resultPath })], {
      stdin: "ignore",
      stdout: "pipe",
      stderr: "pipe",
    });
    const [stdout, stderr, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
    if (code !== 0) throw new Error(`the sandbox runner exited with ${code}:\n${stderr}`);
    return { stdout, stderr, result: JSON.parse(readFileSync(resultPath, "utf8")) as RunResult };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** "name result" lines from the probe, as a map. */
function parseProbe(stdout: string): Record<string, string> {
  return Object.fromEntries(
    stdout
      .trim()
      .split("\n")
      .map((line) => line.split(" ") as [string, string]),
  );
}

function pick(results: Record<string, string>, keys: string[]): Record<string, string> {
  return Object.fromEntries(keys.map((k) => [k, results[k] ?? "(no line)"]));
}

const each = (names: string[], answer: string) => Object.fromEntries(names.map((n) => [n, answer]));
/** The probe's setuid and setgid attempts for each mode syscall: chmod_suid, chmod_sgid, … */
const setidProbes = (calls: string[]) => calls.flatMap((c) => [`${c}_suid`, `${c}_sgid`]);

/** What the filter answers, by escape class, under both built-in profiles. */
const DENIED = {
  namespaces: {
    ...each(["unshare_user", "unshare_mount", "setns"], "EPERM"),
    ...each(["clone_newns", "clone_newcgroup", "clone_newuts", "clone_newipc", "clone_newuser", "clone_newpid", "clone_newnet"], "EPERM"),
    clone3: "ENOSYS",
  },
  mounts: each(["mount", "umount2", "pivot_root", "chroot", "fsopen", "fsconfig", "fsmount", "fspick", "open_tree", "move_mount", "mount_setattr"], "EPERM"),
  kernelSurfaces: each(["keyctl", "add_key", "request_key", "bpf", "perf_event_open", "userfaultfd", "io_uring_setup", "io_uring_enter", "io_uring_register"], "EPERM"),
  otherProcesses: each(["open_by_handle_at", "name_to_handle_at", "ptrace", "process_vm_readv", "process_vm_writev", "kcmp", "pidfd_getfd"], "EPERM"),
  kernelCode: each(["kexec_load", "kexec_file_load", "init_module", "finit_module", "delete_module"], "EPERM"),
  personality: {
    ...each(["personality_linux32", "personality_no_randomize", "personality_read_implies_exec", "personality_high_bits"], "EPERM"),
    ...each(["personality_query", "personality_linux"], "ok"),
  },
  terminal: { ...each(["ioctl_tiocsti", "ioctl_tiocsti_high_bits", "ioctl_tioclinux"], "EPERM"), ioctl_tcgets: "ENOTTY" },
  vsock: { ...each(["socket_vsock", "socket_vsock_high_bits"], "EAFNOSUPPORT"), ...each(["socket_inet", "socket_unix", "socketpair_unix"], "ok") },
  hostWide: each(["acct", "swapon", "swapoff", "reboot", "settimeofday", "clock_settime", "adjtimex", "clock_adjtime", "syslog", "quotactl", "vhangup"], "EPERM"),
  x86Only: { ...each(["iopl", "ioperm"], "EPERM"), x32_getpid: "killed:SIGSYS" },
  i386: { i386_getpid: "killed:SIGSYS" },
  stillWorks: each(["clone_plain", "fork", "pthread_create"], "ok"),
  /** Modes with S_ISUID or S_ISGID: EPERM; without them (the sticky bit included): ok. */
  setid: {
    ...each(setidProbes(["fchmod", "fchmodat", "fchmodat2", "openat", "mknodat"]), "EPERM"),
    fchmodat_suid_high_bits: "EPERM",
    ...each(["fchmod_plain", "fchmodat_plain", "openat_plain", "mknodat_plain", "fchmod_sticky"], "ok"),
    openat2: "ENOSYS",
  },
  /** The legacy calls without an *at form, which only x86_64 has. */
  setidX86: {
    ...each(setidProbes(["chmod", "open", "creat", "mknod"]), "EPERM"),
    ...each(["chmod_plain", "open_plain", "creat_plain", "mknod_plain"], "ok"),
  },
};

/** Builds the probe into a temp dir now, so that skip conditions are known when tests are declared. */
function buildProbe(cc: string): string {
  const dir = mkdtempSync(join(tmpdir(), "cave-seccomp-probe-"));
  // The sandbox's root is not the owner outside, so the bound directory must be world-readable.
  chmodSync(dir, 0o755);
  const out = Bun.spawnSync([cc, "-O1", "-Wall", "-o", join(dir, "probe"), PROBE_SOURCE], { stderr: "pipe" });
  if (out.exitCode !== 0) throw new Error(`gcc could not build the probe:\n${out.stderr.toString()}`);
  return dir;
}

const probeDir = gcc ? buildProbe(gcc) : null;
/** Whether this kernel has fchmodat2 (Linux 6.6+): the probe run outside any sandbox, on a file of its own in /tmp. */
const fchmodat2OnHost = probeDir !== null && Bun.spawnSync([join(probeDir, "probe"), "fchmodat2_plain"]).stdout.toString() === "fchmodat2_plain ok\n";
/** Whether this kernel runs i386 syscalls at all (IA32 emulation): the probe run outside any sandbox. */
const ia32OnHost = onX64 && probeDir !== null && Bun.spawnSync([join(probeDir, "probe"), "i386_getpid"]).stdout.toString() === "i386_getpid ok\n";
const probes: Record<string, Record<string, string>> = {};

/** A describe title that says why it is skipped when gcc, which builds the probe, is missing. */
const needsProbe = (title: string) => (probeDir ? title : `${title} (skipped because gcc, which builds the probe, is not installed)`);

beforeAll(async () => {
  if (!probeDir) return;
  const bind: Bind = { src: probeDir, dst: PROBE_DIR, readOnly: true };
  for (const profile of ["default", "strict", "none"]) {
    const run = await sandbox([`${PROBE_DIR}/probe`], profile, [bind]);
    expect({ profile, stderr: run.stderr, result: { exitCode: run.result.exitCode, reason: run.result.reason } }).toEqual({
      profile,
      stderr: "",
      result: { exitCode: 0, reason: "exit" },
    });
    probes[profile] = parseProbe(run.stdout);
  }
}, SLOW);

afterAll(() => {
  if (probeDir) rmSync(probeDir, { recursive: true, force: true });
});

for (const profile of ["default", "strict"] as const) {
  describe.skipIf(!probeDir)(needsProbe(`the probe in a sandbox under the ${profile} profile`), () => {
    const got = (keys: Record<string, string>) => pick(probes[profile] ?? {}, Object.keys(keys));

    test("nested namespaces are refused: unshare, setns and clone with a CLONE_NEW* flag get EPERM, clone3 gets ENOSYS", () => {
      expect(got(DENIED.namespaces)).toEqual(DENIED.namespaces);
    });

    test("fork, threads (via the clone fallback) and plain clone still work", () => {
      expect(got(DENIED.stillWorks)).toEqual(DENIED.stillWorks);
    });

    test("mount, umount2, pivot_root, chroot and the new mount API get EPERM", () => {
      expect(got(DENIED.mounts)).toEqual(DENIED.mounts);
    });

    test("the keyring, bpf, perf_event_open, userfaultfd and io_uring get EPERM", () => {
      expect(got(DENIED.kernelSurfaces)).toEqual(DENIED.kernelSurfaces);
    });

    test("file handles, ptrace, process_vm_readv/writev, kcmp and pidfd_getfd get EPERM", () => {
      expect(got(DENIED.otherProcesses)).toEqual(DENIED.otherProcesses);
    });

    test("kexec and kernel module loading get EPERM", () => {
      expect(got(DENIED.kernelCode)).toEqual(DENIED.kernelCode);
    });

    test("personality works for PER_LINUX and the query and gets EPERM for any other persona, high bits or not", () => {
      expect(got(DENIED.personality)).toEqual(DENIED.personality);
    });

    test("ioctl TIOCSTI and TIOCLINUX get EPERM, high bits or not, while TCGETS reaches the kernel (ENOTTY)", () => {
      expect(got(DENIED.terminal)).toEqual(DENIED.terminal);
    });

    test("socket(AF_VSOCK) gets EAFNOSUPPORT, high bits or not, while inet and unix sockets open", () => {
      expect(got(DENIED.vsock)).toEqual(DENIED.vsock);
    });

    test("host-wide calls (acct, swap, reboot, clocks, syslog, quotactl, vhangup) get EPERM", () => {
      expect(got(DENIED.hostWide)).toEqual(DENIED.hostWide);
    });

    test.skipIf(!onX64)("iopl and ioperm get EPERM, and an x32 syscall kills the process with SIGSYS (x86_64 only, because these are x86's)", () => {
      expect(got(DENIED.x86Only)).toEqual(DENIED.x86Only);
    });

    test.skipIf(!ia32OnHost)("an i386 syscall (int 0x80) kills the process with SIGSYS (skipped unless the kernel runs i386 syscalls: x86_64 with IA32 emulation)", () => {
      expect(got(DENIED.i386)).toEqual(DENIED.i386);
    });

    test("fchmod, fchmodat, fchmodat2, openat and mknodat get EPERM for a mode with S_ISUID or S_ISGID, high bits or not, succeed without them, and openat2 gets ENOSYS", () => {
      expect(got(DENIED.setid)).toEqual(DENIED.setid);
    });

    test.skipIf(!fchmodat2OnHost)("fchmodat2 without those bits reaches the kernel and succeeds (skipped on kernels before 6.6, which have no fchmodat2)", () => {
      expect(got({ fchmodat2_plain: "ok" })).toEqual({ fchmodat2_plain: "ok" });
    });

    test.skipIf(!onX64)("chmod, open, creat and mknod get EPERM for S_ISUID or S_ISGID and succeed without them (x86_64 only, where these exist)", () => {
      expect(got(DENIED.setidX86)).toEqual(DENIED.setidX86);
    });
  });
}

describe.skipIf(!probeDir)(needsProbe("what only strict refuses"), () => {
  test("a raw packet socket gets EAFNOSUPPORT from the filter, where default leaves it to the kernel's EPERM", () => {
    expect([probes.strict?.socket_packet, probes.default?.socket_packet]).toEqual(["EAFNOSUPPORT", "EPERM"]);
  });

  test.skipIf(!onX64)("a syscall on no allow-list (ustat) gets ENOSYS, where default lets the kernel answer EINVAL (x86_64 only, because arm64 has no ustat)", () => {
    expect([probes.strict?.ustat, probes.default?.ustat]).toEqual(["ENOSYS", "EINVAL"]);
  });
});

describe.skipIf(!probeDir)(needsProbe("the same probe without a filter"), () => {
  test("the kernel alone lets clone3, a new user namespace, PER_LINUX32 and ptrace through, and answers TIOCSTI with ENOTTY", () => {
    const keys = ["clone3", "unshare_user", "personality_linux32", "ptrace", "ioctl_tiocsti", "ioctl_tiocsti_high_bits"];
    expect(pick(probes.none ?? {}, keys)).toEqual({
      clone3: "ok",
      unshare_user: "ok",
      personality_linux32: "ok",
      ptrace: "ok",
      ioctl_tiocsti: "ENOTTY",
      ioctl_tiocsti_high_bits: "ENOTTY",
    });
  });

  test("the kernel alone lets every setuid and setgid mode through (root inside owns the file) and opens with openat2, so EPERM and ENOSYS under the profiles come from the filter", () => {
    const calls = ["fchmod", "fchmodat", "openat", "mknodat", ...(fchmodat2OnHost ? ["fchmodat2"] : []), ...(onX64 ? ["chmod", "open", "creat", "mknod"] : [])];
    const keys = [...setidProbes(calls), "fchmodat_suid_high_bits", "openat2"];
    expect(pick(probes.none ?? {}, keys)).toEqual(each(keys, "ok"));
  });

  test.skipIf(!onX64)("an x32 syscall is not killed without a filter, so SIGSYS under the profiles comes from the filter (x86_64 only)", () => {
    // ENOSYS on kernels built without CONFIG_X86_X32_ABI (most), ok on the others.
    expect(["ok", "ENOSYS"]).toContain(probes.none?.x32_getpid ?? "(no line)");
  });

  test.skipIf(!ia32OnHost)("an i386 getpid succeeds without a filter (skipped unless the kernel runs i386 syscalls: x86_64 with IA32 emulation)", () => {
    expect(probes.none?.i386_getpid).toBe("ok");
  });
});

/**
 * A read-only tree for the tools below: a plain file, an executable, a setuid and a setgid copy
 * of it, and a tar archive of the four (made on the host, where the bits can be set).
 */
function toolTree(): string {
  const dir = mkdtempSync(join(tmpdir(), "cave-seccomp-tools-"));
  chmodSync(dir, 0o755);
  const tree = join(dir, "tree");
  mkdirSync(tree);
  chmodSync(tree, 0o755);
  writeFileSync(join(tree, "plain"), "plain\n");
  chmodSync(join(tree, "plain"), 0o644);
  for (const [name, mode] of [["tool", 0o755], ["suid", 0o4755], ["sgid", 0o2755]] as const) {
    copyFileSync("/bin/true", join(tree, name));
    chmodSync(join(tree, name), mode);
  }
  const tar = Bun.spawnSync(["tar", "cf", join(dir, "a.tar"), "-C", tree, "plain", "tool", "suid", "sgid"], { stderr: "pipe" });
  if (tar.exitCode !== 0) throw new Error(`tar could not build the archive:\n${tar.stderr.toString()}`);
  return dir;
}

for (const profile of ["default", "strict"] as const) {
  describe(`common tools under the ${profile} profile, which refuses setuid and setgid modes`, () => {
    let dir = "";
    beforeAll(() => {
      dir = toolTree();
    });
    afterAll(() => rmSync(dir, { recursive: true, force: true }));

    /** `script` in sh with the tree bound at /src, LC_ALL=C and /tmp as the working directory. */
    async function sh(script: string) {
      const o = await sandbox(["sh", "-c", `export LC_ALL=C; cd /tmp; ${script}`], profile, [{ src: dir, dst: "/src", readOnly: true }]);
      return { stdout: o.stdout, stderr: o.stderr, exitCode: o.result.exitCode };
    }
    const modes = (path: string) => `stat -c '%n %a' ${path}`;

    test(
      "cp -a copies plain files with their modes, and reports EPERM for the setuid and setgid files' modes, leaving them 0700",
      async () => {
        const r = await sh(`cp -a /src/tree cpa; echo "cp $?"; ${modes("cpa/plain cpa/tool cpa/suid cpa/sgid")}`);
        // cp walks the directory in readdir order: compare its complaints as a set.
        expect({ ...r, stderr: r.stderr.split("\n").sort() }).toEqual({
          stdout: "cp 1\ncpa/plain 644\ncpa/tool 755\ncpa/suid 700\ncpa/sgid 700\n",
          stderr: ["", "cp: preserving permissions for 'cpa/sgid': Operation not permitted", "cp: preserving permissions for 'cpa/suid': Operation not permitted"],
          exitCode: 0,
        });
      },
      SLOW,
    );

    test(
      "tar x reports EPERM for the setuid and setgid members' modes and exits 2, leaving them 0700; with --no-same-permissions it drops the bits silently",
      async () => {
        const script = [
          `mkdir x && tar xf /src/a.tar -C x; echo "tar $?"; ${modes("x/plain x/tool x/suid x/sgid")}`,
          `mkdir y && tar xf /src/a.tar -C y --no-same-permissions; echo "tar --no-same-permissions $?"; ${modes("y/plain y/tool y/suid y/sgid")}`,
        ].join("; ");
        expect(await sh(script)).toEqual({
          stdout: "tar 2\nx/plain 644\nx/tool 755\nx/suid 700\nx/sgid 700\ntar --no-same-permissions 0\ny/plain 644\ny/tool 755\ny/suid 755\ny/sgid 755\n",
          stderr: [
            "tar: suid: Cannot change mode to rwsr-xr-x: Operation not permitted",
            "tar: sgid: Cannot change mode to rwxr-sr-x: Operation not permitted",
            "tar: Exiting with failure status due to previous errors",
            "",
          ].join("\n"),
          exitCode: 0,
        });
      },
      SLOW,
    );

    test(
      "install -m 755 sets its mode, and install -m 4755 fails with EPERM",
      async () => {
        const r = await sh(`install -m 755 /src/tree/plain a; echo "install $?"; install -m 4755 /src/tree/plain b; echo "install 4755 $?"; ${modes("a")}`);
        expect(r).toEqual({ stdout: "install 0\ninstall 4755 1\na 755\n", stderr: "install: cannot change permissions of 'b': Operation not permitted\n", exitCode: 0 });
      },
      SLOW,
    );

    test.skipIf(!inSandbox("python3"))(
      "python's os.chmod(0o755) works and os.chmod(0o4755) raises PermissionError (skipped without python3)",
      async () => {
        const code = [
          "import os",
          "open('p', 'w').close(); os.chmod('p', 0o755); print(oct(os.stat('p').st_mode & 0o7777))",
          "try: os.chmod('p', 0o4755)\nexcept PermissionError as e: print(e.errno)",
        ].join("\n");
        expect(await sh(`python3 -c "${code}"`)).toEqual({ stdout: "0o755\n1\n", stderr: "", exitCode: 0 });
      },
      SLOW,
    );

    test.skipIf(!gcc)(
      "gcc writes an executable (mode 755) that runs (skipped without gcc)",
      async () => {
        const r = await sh(`printf 'int main(void) { return 0; }\\n' > h.c && gcc -o h h.c && ./h && echo ran; ${modes("h")}`);
        expect(r).toEqual({ stdout: "ran\nh 755\n", stderr: "", exitCode: 0 });
      },
      SLOW,
    );
  });
}

describe("real programs under the strict profile", () => {
  const ok = (stdout: string) => ({ stdout, stderr: "", exitCode: 0, reason: "exit" as const });
  const summary = (o: Outcome) => ({ stdout: o.stdout, stderr: o.stderr, exitCode: o.result.exitCode, reason: o.result.reason });

  test(
    "sh runs a pipeline, command substitution, a fifo and tar",
    async () => {
      const script = "echo hello from sh | tr a-z A-Z; n=$(printf 'a\\nb\\n' | wc -l); echo lines $n; mkfifo /tmp/f && echo fifo; tar cf /tmp/a.tar -C /etc hostname && echo tar";
      expect(summary(await sandbox(["sh", "-c", script], "strict"))).toEqual(ok("HELLO FROM SH\nlines 2\nfifo\ntar\n"));
    },
    SLOW,
  );

  test.skipIf(!inSandbox("python3"))(
    "python3 runs a subprocess, a thread, asyncio and a multiprocessing pool (skipped without python3)",
    async () => {
      const code = [
        "import asyncio, multiprocessing, subprocess, threading",
        "print(subprocess.run(['echo', 'child'], capture_output=True, text=True).stdout.strip())",
        "t = threading.Thread(target=print, args=('thread',)); t.start(); t.join()",
        "print(asyncio.run(asyncio.sleep(0, 'async')))",
        "with multiprocessing.Pool(2) as p: print(p.map(abs, [-1, -2]))",
      ].join("\n");
      expect(summary(await sandbox(["python3", "-c", code], "strict"))).toEqual(ok("child\nthread\nasync\n[1, 2]\n"));
    },
    SLOW,
  );

  test.skipIf(!inSandbox("node"))(
    "node runs a child process, a worker thread and an http round trip on loopback (skipped without node)",
    async () => {
      const code = `
        const cp = require("child_process"), http = require("http");
        const { Worker } = require("worker_threads");
        console.log(cp.execSync("echo child").toString().trim());
        new Worker("require('worker_threads').parentPort.postMessage('worker')", { eval: true }).on("message", (m) => {
          console.log(m);
          const srv = http.createServer((q, s) => s.end("served")).listen(0, "127.0.0.1", () => {
            http.get("http://127.0.0.1:" + srv.address().port, (r) => {
              let body = ""; r.on("data", (d) => (body += d)); r.on("end", () => { console.log(body); srv.close(); });
            });
          });
        });`;
      expect(summary(await sandbox(["node", "-e", code], "strict"))).toEqual(ok("child\nworker\nserved\n"));
    },
    SLOW,
  );

  test.skipIf(!gcc)(
    "gcc compiles a threaded hello world in /tmp and it runs (skipped without gcc)",
    async () => {
      const src = "#include <stdio.h>\\n#include <pthread.h>\\nstatic void *f(void *a) { return a; }\\nint main(void) { pthread_t t; pthread_create(&t, 0, f, 0); pthread_join(t, 0); puts(\\\"hello from gcc\\\"); return 0; }\\n";
      const script = `cd /tmp && printf "${src}" > hello.c && gcc -O2 -Wall -o hello hello.c && ./hello`;
      expect(summary(await sandbox(["sh", "-c", script], "strict"))).toEqual(ok("hello from gcc\n"));
    },
    SLOW,
  );

  test(
    "bun spawns a process, writes a file and serves http on loopback",
    async () => {
      const code = `
        console.log(Bun.spawnSync(["echo", "child"]).stdout.toString().trim());
        await Bun.write("/tmp/b.txt", "written"); console.log(await Bun.file("/tmp/b.txt").text());
        const s = Bun.serve({ port: 0, hostname: "127.0.0.1", fetch: () => new Response("served") });
        console.log(await (await fetch(s.url)).text()); s.stop(true);`;
      // The checkout (and so Bun) may live under /tmp, which the sandbox replaces: bind it in.
      const bun: Bind = { src: process.execPath, dst: "/opt/bun/bun", readOnly: true };
      expect(summary(await sandbox([bun.dst, "-e", code], "strict", [bun]))).toEqual(ok("child\nwritten\nserved\n"));
    },
    SLOW,
  );
});
