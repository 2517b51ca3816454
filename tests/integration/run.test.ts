// `cave run` against the real kernel: namespaces, the overlay root, binds, exit statuses,
// timeouts, teardown and leftovers, checked from inside the sandbox and from the host.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync, chmodSync, mkdirSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { cave, CAVE, hostPidsWith, jsonResult, marker } from "../helpers/cave.ts";

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "cave-run-"));
  chmodSync(dir, 0o755);
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const sh = (script: string, ...opts: string[]) => cave(["run", ...opts, "--", "sh", "-c", script]);

describe("isolation seen from inside", () => {
  test("the hostname is cave by default and --hostname sets another", async () => {
    expect((await sh("hostname")).stdout).toBe("cave\n");
    expect((await sh("hostname", "--hostname", "box-1")).stdout).toBe("box-1\n");
  });

  test("the command sees only its own pid namespace: init is pid 1 and it is the only other process", async () => {
    const r = await sh("echo $$; exec ls /proc");
    const [self, ...entries] = r.stdout.trim().split("\n");
    const pids = entries.filter((e) => /^\d+$/.test(e)).map(Number);
    // init and the shell, which became ls: nothing of the host's
    expect(pids.sort((a, b) => a - b)).toEqual([1, Number(self)]);
  });

  test("the network namespace holds only the loopback interface, and it is up", async () => {
    const r = await sh("tail -n +3 /proc/net/dev | cut -d: -f1 | tr -d ' '; cat /sys/class/net/lo/flags");
    expect(r.stdout).toBe("lo\n0x9\n");
    expect(r.exitCode).toBe(0);
  });

  test("a TCP connection over loopback inside the sandbox works", async () => {
    const r = await cave(["run", "--", "python3", "-c", "import socket;s=socket.socket();s.bind(('127.0.0.1',0));s.listen();c=socket.create_connection(s.getsockname());a,_=s.accept();c.send(b'ok');print(a.recv(2).decode())"]);
    expect(r.stdout).toBe("ok\n");
  });

  test("the root user inside is nobody (65534) outside when cave runs as root", async () => {
    const r = await sh("id -u; cat /proc/self/uid_map | tr -s ' '");
    expect(r.stdout).toBe("0\n 0 65534 1\n");
  });

  test("the environment is clean: PATH, HOME, TERM and LANG, plus --env additions", async () => {
    const r = await cave(["run", "--env", "FOO=bar", "--env", "EMPTY=", "--", "/usr/bin/env"], { env: { SECRET_TOKEN: "x", TERM: "xterm", LANG: "C.UTF-8" } });
    expect(r.stdout.trim().split("\n").sort()).toEqual(["EMPTY=", "FOO=bar", "HOME=/root", "LANG=C.UTF-8", "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "TERM=xterm"]);
  });

  test("every host file descriptor above 2 is closed", async () => {
    const proc = Bun.spawn([CAVE, "run", "--", "ls", "/proc/self/fd"], { stdio: ["ignore", "pipe", "pipe", "pipe", "pipe"] });
    const out = await new Response(proc.stdout).text();
    await proc.exited;
    // 0-2 and the directory ls itself opened
    expect(out.trim().split("\n").map(Number).sort()).toEqual([0, 1, 2, 3]);
  });

  test("signal dispositions are the defaults even though cave's own runtime ignores SIGPIPE", async () => {
    const r = await sh("grep -E '^Sig(Ign|Blk)' /proc/self/status");
    expect(r.stdout).toBe("SigBlk:\t0000000000000000\nSigIgn:\t0000000000000000\n");
  });

  test("/dev is minimal: the standard nodes, a private devpts and /dev/shm", async () => {
    const r = await sh("ls /dev | tr '\\n' ' '; head -c 4 /dev/zero | od -An -tx1; echo x > /dev/null && echo null-ok");
    expect(r.stdout).toBe("fd full null ptmx pts random shm stderr stdin stdout tty urandom zero  00 00 00 00\nnull-ok\n");
  });

  test("/proc is fresh and /sys is read-only", async () => {
    const r = await sh("cat /proc/1/cmdline | tr '\\0' ' ' | grep -c cave >/dev/null; touch /sys/x 2>&1; echo $?");
    expect(r.stdout).toContain("Read-only file system");
  });
});

describe("the root filesystem", () => {
  test("writes to / and /etc succeed inside, land in tmpfs and never reach the host", async () => {
    const name = marker();
    const r = await sh(`echo inside > /etc/${name} && echo inside > /${name} && cat /etc/${name} /${name}`);
    expect(r.stdout).toBe("inside\ninside\n");
    expect(existsSync(`/etc/${name}`)).toBe(false);
    expect(existsSync(`/${name}`)).toBe(false);
  });

  test("deleting and editing host files inside leaves the host's copies unchanged", async () => {
    const before = readFileSync("/etc/passwd", "utf8");
    const r = await sh("echo evil >> /etc/passwd && rm -f /etc/hostname && rm -rf /usr/share/doc && ls /usr/share/doc 2>&1 | head -1; tail -1 /etc/passwd");
    expect(r.stdout).toContain("evil");
    expect(readFileSync("/etc/passwd", "utf8")).toBe(before);
    expect(existsSync("/usr/share/doc")).toBe(true);
  });

  test("nothing written in one run is visible in the next", async () => {
    const name = marker();
    await sh(`echo 1 > /tmp/${name}; echo 1 > /root/${name}`);
    const r = await sh(`ls /tmp/${name} /root/${name} 2>&1 | wc -l; ls /tmp | wc -l`);
    expect(r.stdout).toBe("2\n0\n");
  });

  test("the host's /tmp and root's home are not visible inside", async () => {
    const name = marker();
    writeFileSync(join(tmpdir(), name), "host");
    try {
      const r = await sh(`test -e /tmp/${name} && echo visible || echo hidden; ls -A /root | wc -l`);
      expect(r.stdout).toBe("hidden\n0\n");
    } finally {
      rmSync(join(tmpdir(), name));
    }
  });

  test("writes beyond --disk fail with ENOSPC inside and the command goes on", async () => {
    const r = await sh("dd if=/dev/zero of=/tmp/big bs=1M count=64 2>&1 | grep -o 'No space left on device'; echo after", "--disk", "16M");
    expect(r.stdout).toBe("No space left on device\nafter\n");
  });

  test("--rootfs uses another directory as the root", async () => {
    const root = join(dir, "rootfs");
    for (const d of ["bin", "lib", "lib64", "usr", "etc", "proc", "sys", "dev", "tmp", "root"]) mkdirSync(join(root, d), { recursive: true });
    // a tiny root: the host's busybox-free sh and its libraries, bound read-only
    const r = await cave(["run", "--rootfs", root, "--bind", "/usr:/usr:ro", "--bind", "/lib:/lib:ro", "--bind", "/lib64:/lib64:ro", "--bind", "/bin:/bin:ro", "--", "/bin/sh", "-c", "ls /etc | wc -l; ls / | tr '\\n' ' '"]);
    expect(r.stderr).toBe("");
    expect(r.stdout).toBe("0\nbin dev etc lib lib64 proc root sys tmp usr ");
  });
});

describe("binds and the working directory", () => {
  test("a read-write bind shows host files and writes reach the host, owned by the host's root", async () => {
    const src = join(dir, "rw");
    mkdirSync(src, { mode: 0o700 });
    writeFileSync(join(src, "in.txt"), "from host");
    const r = await cave(["run", "--bind", `${src}:/data`, "--workdir", "/data", "--", "sh", "-c", "cat in.txt; echo from-sandbox > out.txt; pwd"]);
    expect(r.stdout).toBe("from host/data\n");
    expect(readFileSync(join(src, "out.txt"), "utf8")).toBe("from-sandbox\n");
    expect(statSync(join(src, "out.txt")).uid).toBe(0);
  });

  test("a read-only bind refuses writes with EROFS", async () => {
    const src = join(dir, "ro");
    mkdirSync(src);
    const r = await cave(["run", "--bind", `${src}:/ro:ro`, "--", "sh", "-c", "touch /ro/x"]);
    expect(r.exitCode).toBe(1);
    expect(r.stderr).toContain("Read-only file system");
    expect(existsSync(join(src, "x"))).toBe(false);
  });

  test("a bind of a single file works, and a missing source is a usage error", async () => {
    const f = join(dir, "one.txt");
    writeFileSync(f, "single");
    expect((await cave(["run", "--bind", `${f}:/etc/one.txt:ro`, "--", "cat", "/etc/one.txt"])).stdout).toBe("single");
    const bad = await cave(["run", "--bind", `${dir}/missing:/x`, "--", "true"]);
    expect(bad.exitCode).toBe(2);
    expect(bad.stderr).toContain(`bind source ${dir}/missing does not exist`);
  });

  test("a bind source under /tmp is still reachable although the sandbox gets its own /tmp", async () => {
    const src = mkdtempSync(join("/tmp", "cave-bind-"));
    try {
      writeFileSync(join(src, "f"), "tmp-source");
      expect((await cave(["run", "--bind", `${src}:/src:ro`, "--", "cat", "/src/f"])).stdout).toBe("tmp-source");
    } finally {
      rmSync(src, { recursive: true });
    }
  });

  test("bind sources must not be relative and modes must be ro or rw", async () => {
    const r = await cave(["run", "--bind", "rel:/x", "--", "true"]);
    expect(r.exitCode).toBe(2);
    expect(r.stderr).toContain("absolute");
    const m = await cave(["run", "--bind", "/etc:/x:rx", "--", "true"]);
    expect(m.exitCode).toBe(2);
  });
});

describe("exit statuses", () => {
  test("the command's own exit code passes through", async () => {
    expect((await sh("exit 42")).exitCode).toBe(42);
    expect((await sh("exit 0")).exitCode).toBe(0);
  });

  test("a command killed by signal N gives 128+N and --json names the signal", async () => {
    const r = await sh("kill -TERM $$", "--json");
    expect(r.exitCode).toBe(143);
    expect(jsonResult(r)).toMatchObject({ exitCode: 143, signal: "SIGTERM", reason: "signal" });
  });

  test("an unknown command gives 127 with a one-line reason", async () => {
    const r = await cave(["run", "--", "no-such-command-xyz"]);
    expect(r.exitCode).toBe(127);
    expect(r.stderr).toBe("cave: command not found: no-such-command-xyz\n");
  });

  test("a file that is not executable gives 126", async () => {
    const r = await cave(["run", "--json", "--", "/etc/passwd"]);
    expect(r.exitCode).toBe(126);
    expect(jsonResult(r)).toMatchObject({ exitCode: 126, reason: "not_executable", signal: null });
  });

  test("a sandbox that cannot be set up gives 125 with the step and errno, and the command never runs", async () => {
    const name = marker();
    const r = await cave(["run", "--workdir", "/does/not/exist", "--", "sh", "-c", `touch /tmp/${name}-ran`]);
    expect(r.exitCode).toBe(125);
    expect(r.stderr).toBe('cave: sandbox setup failed at "change to the working directory": ENOENT (No such file or directory)\n');
  });

  test("--timeout kills the sandbox and reports reason timeout with exit 124", async () => {
    const t0 = performance.now();
    const r = await cave(["run", "--timeout", "500ms", "--json", "--", "sleep", "30"]);
    expect(r.exitCode).toBe(124);
    expect(jsonResult(r)).toMatchObject({ exitCode: 124, reason: "timeout", signal: "SIGKILL", message: "timed out after 500ms; the sandbox was killed" });
    expect(performance.now() - t0).toBeLessThan(10_000);
  });

  test("--json reports exit code, signal, reason and duration for a normal exit", async () => {
    const r = await sh("exit 3", "--json");
    const j = jsonResult(r);
    expect(j).toMatchObject({ exitCode: 3, signal: null, reason: "exit" });
    expect(j.durationMs).toBeGreaterThan(0);
  });

  test("stdin is passed straight through", async () => {
    const r = await cave(["run", "--", "sh", "-c", "tr a-z A-Z"], { stdin: "hello\n" });
    expect(r.stdout).toBe("HELLO\n");
  });
});

describe("init and teardown", () => {
  test("init reaps orphaned zombies", async () => {
    const r = await sh("(sleep 0.1 &); sleep 0.5; ps -eo stat= | grep -c Z || true");
    expect(r.stdout).toBe("0\n");
  });

  test("init forwards signals it receives to the command", async () => {
    const proc = Bun.spawn([CAVE, "run", "--", "sh", "-c", "trap 'echo got-usr1; exit 7' USR1; echo ready; while :; do sleep 0.05; done"], { stdout: "pipe", stderr: "pipe" });
    const reader = proc.stdout.getReader();
    const first = await reader.read();
    expect(new TextDecoder().decode(first.value)).toBe("ready\n");
    const children = readFileSync(`/proc/${proc.pid}/task/${proc.pid}/children`, "utf8").trim().split(" ").map(Number);
    expect(children.length).toBe(1);
    process.kill(children[0] as number, "SIGUSR1");
    let out = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      out += new TextDecoder().decode(value);
    }
    expect(out).toBe("got-usr1\n");
    expect(await proc.exited).toBe(7);
  });

  test("background processes die with the command: nothing is left running", async () => {
    const name = marker();
    // each background shell keeps the marker in its command line while its sleep runs
    const r = await sh(`sh -c 'sleep 1000; : ${name}' & sh -c 'sleep 999; : ${name}' & for i in $(seq 100); do [ $(grep -l ${name} /proc/[0-9]*/cmdline 2>/dev/null | wc -l) -ge 2 ] && break; sleep 0.01; done; echo started`);
    expect(r.stdout).toBe("started\n");
    expect(await hostPidsWith(name)).toEqual([]);
  });

  for (const [sig, code] of [["SIGINT", 130], ["SIGTERM", 143]] as const) {
    test(`${sig} to cave tears the sandbox down and exits ${code}`, async () => {
      const name = marker();
      const proc = Bun.spawn([CAVE, "run", "--json", "--", "sh", "-c", `echo ready; sleep 1000; : ${name}`], { stdout: "pipe", stderr: "pipe" });
      const reader = proc.stdout.getReader();
      await reader.read();
      // cave, the sandbox's init (a clone of cave), the shell, and maybe the shell's
      // child before it execs sleep: the marker is visible, so the check below can fail
      expect((await hostPidsWith(name)).length).toBeGreaterThanOrEqual(3);
      proc.kill(sig);
      expect(await proc.exited).toBe(code);
      const err = await new Response(proc.stderr).text();
      expect(JSON.parse(err.trim())).toMatchObject({ reason: "interrupted", signal: sig, exitCode: code });
      expect(await hostPidsWith(name)).toEqual([]);
    });
  }

  test("kill -9 of cave itself still takes the whole sandbox down", async () => {
    const name = marker();
    const proc = Bun.spawn([CAVE, "run", "--", "sh", "-c", `echo ready; sleep 1000; : ${name}`], { stdout: "pipe", stderr: "pipe" });
    await proc.stdout.getReader().read();
    expect((await hostPidsWith(name)).length).toBeGreaterThanOrEqual(3);
    proc.kill("SIGKILL");
    await proc.exited;
    // the kernel delivers the parent-death signal to init; its namespace goes with it
    for (let i = 0; i < 100 && (await hostPidsWith(name)).length > 0; i++) await Bun.sleep(20);
    expect(await hostPidsWith(name)).toEqual([]);
  });

  test("no mounts appear in the host's mount namespace during or after a run", async () => {
    const before = readFileSync("/proc/self/mountinfo", "utf8");
    await sh("mount | wc -l");
    expect(readFileSync("/proc/self/mountinfo", "utf8")).toBe(before);
  });
});

describe("terminals", () => {
  const hasScript = Bun.which("script") !== null;

  test.skipIf(!hasScript)("in a terminal the command gets a terminal of its own, named in the sandbox's /dev/pts", async () => {
    // script(1) gives cave a pseudo-terminal as stdin and stdout
    const proc = Bun.spawn(["script", "-qec", `${CAVE} run -- sh -c 'tty; test -t 0 && test -t 1 && echo both-tty; ls -1 /dev/pts'`, "/dev/null"], { stdout: "pipe", stderr: "pipe", stdin: "pipe" });
    const out = (await new Response(proc.stdout).text()).replaceAll("\r", "");
    expect(await proc.exited).toBe(0);
    expect(out).toBe("/dev/pts/0\nboth-tty\n0\nptmx\n");
  });

  test("without a terminal the command's stdio are cave's own pipes", async () => {
    const r = await sh("test -t 0 || echo not-a-tty; readlink /proc/self/fd/1 | cut -d: -f1");
    expect(r.stdout).toBe("not-a-tty\npipe\n");
  });
});

describe("configuration", () => {
  test("cave.yaml in the working directory sets defaults and flags override it", async () => {
    const cwd = mkdtempSync(join(tmpdir(), "cave-cfg-"));
    writeFileSync(join(cwd, "cave.yaml"), "run:\n  hostname: from-file\n  env:\n    WHO: file\n");
    try {
      expect((await cave(["run", "--", "sh", "-c", "hostname; echo $WHO"], { cwd })).stdout).toBe("from-file\nfile\n");
      expect((await cave(["run", "--hostname", "from-flag", "--", "hostname"], { cwd })).stdout).toBe("from-flag\n");
    } finally {
      rmSync(cwd, { recursive: true });
    }
  });

  test("a bad config file is refused with the key, the value and what is allowed, and nothing runs", async () => {
    const cwd = mkdtempSync(join(tmpdir(), "cave-cfg-"));
    writeFileSync(join(cwd, "bad.yaml"), "run:\n  memroy: 1G\n");
    try {
      const r = await cave(["run", "--config", "bad.yaml", "--", "true"], { cwd });
      expect(r.exitCode).toBe(2);
      expect(r.stderr).toContain('bad.yaml:2:3: run.memroy: unknown key; did you mean "memory"?');
    } finally {
      rmSync(cwd, { recursive: true });
    }
  });
});

describe("limits inside the sandbox", () => {
  test("--cpus caps CPU time: a 1 s busy loop at 0.25 CPUs gets about a quarter second", async () => {
    const r = await cave(["run", "--cpus", "0.25", "--", "python3", "-c", "import time,os\nt=time.time()\nwhile time.time()-t<1: pass\nprint(round(os.times().user+os.times().system,2))"]);
    expect(r.exitCode).toBe(0);
    const cpu = Number(r.stdout);
    expect(cpu).toBeGreaterThan(0.05);
    expect(cpu).toBeLessThan(0.6);
  });

  test("--memory: going over it is an OOM kill reported as reason oom with exit 137", async () => {
    const r = await cave(["run", "--memory", "64M", "--json", "--", "python3", "-c", "b=bytearray(512*1024*1024)"]);
    expect(r.exitCode).toBe(137);
    expect(jsonResult(r)).toMatchObject({ exitCode: 137, reason: "oom", signal: "SIGKILL" });
  });

  test("--pids: forks past the limit fail inside and the command goes on", async () => {
    const forks = "import os,time\nok=0;err=None\nfor i in range(40):\n  try:\n    if os.fork()==0:\n      time.sleep(1); os._exit(0)\n    ok+=1\n  except OSError as e:\n    err=e.errno\nprint(ok<40, err)";
    const r = await cave(["run", "--pids", "16", "--", "python3", "-c", forks]);
    // EAGAIN: fork(2) past pids.max
    expect(r.stdout).toBe("True 11\n");
  });

  test("--rlimit nofile is what the command sees, and core dumps are off", async () => {
    const r = await sh("ulimit -n; ulimit -c", "--rlimit", "nofile=64");
    expect(r.stdout).toBe("64\n0\n");
  });

  test("--memory, --cpus and --pids none lift every limit and no cgroup is made", async () => {
    const proc = Bun.spawn([CAVE, "run", "--memory", "none", "--cpus", "none", "--pids", "none", "--", "sh", "-c", "echo ready; read x; exit 0"], { stdout: "pipe", stderr: "pipe", stdin: "pipe" });
    await proc.stdout.getReader().read();
    expect(cgroupDirsOf(proc.pid)).toEqual([]);
    proc.stdin.end();
    expect(await proc.exited).toBe(0);
  });

  test("a run with limits has its cgroup while it runs", async () => {
    const proc = Bun.spawn([CAVE, "run", "--", "sh", "-c", "echo ready; read x; exit 0"], { stdout: "pipe", stderr: "pipe", stdin: "pipe" });
    await proc.stdout.getReader().read();
    expect(cgroupDirsOf(proc.pid).length).toBeGreaterThan(0);
    proc.stdin.end();
    expect(await proc.exited).toBe(0);
    expect(cgroupDirsOf(proc.pid)).toEqual([]);
  });

  test("a cgroup left by a killed cave is removed by the next run", async () => {
    const proc = Bun.spawn([CAVE, "run", "--", "sh", "-c", "echo ready; sleep 1000"], { stdout: "pipe", stderr: "pipe" });
    await proc.stdout.getReader().read();
    const mine = () => cgroupDirsOf(proc.pid);
    expect(mine().length).toBeGreaterThan(0);
    proc.kill("SIGKILL");
    await proc.exited;
    expect(mine().length).toBeGreaterThan(0);
    expect((await cave(["run", "--", "true"])).exitCode).toBe(0);
    expect(mine()).toEqual([]);
  });
});

/** cave-<pid>-* cgroup directories of one cave process, in every hierarchy. */
function cgroupDirsOf(pid: number): string[] {
  const out: string[] = [];
  for (const root of ["/sys/fs/cgroup", ...readdirSync("/sys/fs/cgroup").map((d) => `/sys/fs/cgroup/${d}`)]) {
    try {
      for (const d of readdirSync(`${root}/cave`)) if (d.startsWith(`cave-${pid}-`)) out.push(`${root}/cave/${d}`);
    } catch {
      // this hierarchy has no cave parent: nothing of ours there
    }
  }
  return out;
}

describe("rootless", () => {
  const nobody = { asUser: { uid: 65534, gid: 65534 } };
  const userns = Number(readFileSync("/proc/sys/user/max_user_namespaces", "utf8")) > 0;

  test.skipIf(!userns)("runs as an unprivileged user: root inside maps to the caller's uid", async () => {
    const r = await cave(["run", "--", "sh", "-c", "id -u; hostname; cat /proc/self/uid_map | tr -s ' '"], nobody);
    // without delegated cgroups cave says once that rlimits stand in for them
    const warnings = r.stderr.split("\n").filter(Boolean);
    expect(warnings.length).toBeLessThanOrEqual(1);
    if (warnings.length) expect(warnings[0]).toMatch(/^\[warn\] cgroups are not available \(.+\): memory and pids are limited with rlimits/);
    expect(r.stdout).toBe("0\ncave\n 0 65534 1\n");
  });

  test.skipIf(!userns)("rootless: the host root is read-only while /tmp and HOME are writable", async () => {
    const r = await cave(["run", "--", "sh", "-c", "touch /etc/x 2>&1; echo a > /tmp/a && echo b > /root/b && cat /tmp/a /root/b"], nobody);
    expect(r.stdout).toContain("Read-only file system");
    expect(r.stdout).toEndWith("a\nb\n");
  });

  test.skipIf(!userns)("rootless: only lo, exit codes and timeouts behave as with root", async () => {
    expect((await cave(["run", "--", "sh", "-c", "tail -n +3 /proc/net/dev | cut -d: -f1 | tr -d ' '; exit 9"], nobody))).toMatchObject({ exitCode: 9, stdout: "lo\n" });
    expect((await cave(["run", "--timeout", "300ms", "--", "sleep", "20"], nobody)).exitCode).toBe(124);
  });
});
