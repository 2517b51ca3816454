// Real sandboxes under the built-in seccomp profiles: a C probe (fixtures/seccomp-probe.c) tries
// each escape-class syscall and prints what it got; under `strict`, sh, python3, node, gcc and bun
// must still do real work. `none` runs the same probe to show the kernel alone would let them by.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { chmodSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
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

  test.skipIf(!onX64)("an x32 syscall is not killed without a filter, so SIGSYS under the profiles comes from the filter (x86_64 only)", () => {
    // ENOSYS on kernels built without CONFIG_X86_X32_ABI (most), ok on the others.
    expect(["ok", "ENOSYS"]).toContain(probes.none?.x32_getpid ?? "(no line)");
  });

  test.skipIf(!ia32OnHost)("an i386 getpid succeeds without a filter (skipped unless the kernel runs i386 syscalls: x86_64 with IA32 emulation)", () => {
    expect(probes.none?.i386_getpid).toBe("ok");
  });
});

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
      expect(summary(await sandbox([process.execPath, "-e", code], "strict"))).toEqual(ok("child\nwritten\nserved\n"));
    },
    SLOW,
  );
});
