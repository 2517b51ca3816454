// Persistent sandboxes through the compiled binary: every verb is its own cave process, so a
// sandbox started by one is found and exec'd by others, and its init outlives them all. The
// state is checked in the database itself; the exec'd commands get the same key checks as
// `cave run`'s security suite.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Engine } from "../../src/db/engine.ts";
import { openStore } from "../../src/db/store/index.ts";
import { listBoxCgroups } from "../../src/sandbox/cgroups/index.ts";
import { CAVE, cave, jsonResult } from "../helpers/cave.ts";

const root = process.getuid?.() === 0;
const loop = existsSync("/dev/loop-control");
const mkfs = Bun.which("mkfs.ext4", { PATH: "/usr/sbin:/sbin:/usr/bin:/bin" }) !== null;
const skip = !root || !loop || !mkfs;
const why = !root ? "needs root" : !loop ? "needs loop devices (/dev/loop-control)" : "needs mkfs.ext4 (e2fsprogs)";

let dir: string;
let data: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "cave-boxes-"));
  chmodSync(dir, 0o755);
  data = join(dir, "data");
});
afterAll(async () => {
  // Nothing may keep running: force-remove whatever a failed test left.
  if (existsSync(data)) {
    const ls = await box(["ls", "--json"]);
    for (const s of JSON.parse(ls.stdout || "[]") as { id: string }[]) await box(["rm", "--force", s.id]);
  }
  rmSync(dir, { recursive: true, force: true });
});

const box = (args: string[], stdin?: string) => cave(args, { cwd: dir, env: { CAVE_DATA_DIR: data }, ...(stdin !== undefined ? { stdin } : {}) });

async function query(sql: string, params: unknown[] = []): Promise<unknown[][]> {
  const db = await Engine.open(openStore(join(data, "cave.db")));
  try {
    return (await db.query(sql, params)).rows;
  } finally {
    db.close();
  }
}

/** The sandbox cgroups (box-<data dir scope>-<id>) of this id on the host, in any hierarchy. */
function cgroupsOf(id: string): string[] {
  return listBoxCgroups().filter((key) => key.endsWith(`-${id}`));
}

function alive(pid: number): boolean {
  try {
    return !/^\S+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, "utf8"));
  } catch {
    return false;
  }
}

describe.skipIf(skip)(`persistent sandboxes through the CLI (${skip ? `skipped: ${why}` : "as root"})`, () => {
  test("create → start → execs (some concurrent) → stop → rm, with status and executions in the database", async () => {
    const created = await box(["create", "--name", "life", "--disk", "64M", "--memory", "256M"]);
    expect(created.stderr).toBe("");
    expect(created.exitCode).toBe(0);
    const id = created.stdout.trim();
    expect(id).toMatch(/^[0-9a-f]{12}$/);
    expect(await query("SELECT name, status, init_pid FROM cave_sandboxes WHERE id = $1", [id])).toEqual([["life", "created", null]]);
    expect(statSync(join(data, "sandboxes", id, "disk.img")).size).toBe(64 * 1024 * 1024);

    const started = await box(["start", "life"]);
    expect([started.exitCode, started.stdout, started.stderr]).toEqual([0, `${id}\n`, ""]);
    const [[status, pid]] = (await query("SELECT status, init_pid FROM cave_sandboxes WHERE id = $1", [id])) as [[string, number]];
    expect(status).toBe("running");
    // The cave process that started it has exited; init lives on, adopted by another parent.
    expect(alive(pid)).toBe(true);
    expect(readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]?.split(" ")[1]).not.toBe(String(process.pid));

    // What it uses, from its cgroup: cave-init alone, a few hundred KiB.
    const usage = JSON.parse((await box(["inspect", id])).stdout).usage as { memoryBytes: number; pids: number; cpuSeconds: number | null };
    expect(usage.pids).toBe(1);
    expect(usage.memoryBytes).toBeGreaterThan(0);
    expect(usage.memoryBytes).toBeLessThan(256 * 1024 * 1024);

    const first = await box(["exec", id, "--", "sh", "-c", "echo one > /root/state; echo out; echo err >&2; exit 3"]);
    expect([first.exitCode, first.stdout, first.stderr]).toEqual([3, "out\n", "err\n"]);
    const many = await Promise.all([1, 2, 3, 4].map((n) => box(["exec", "life", "--", "sh", "-c", `sleep 0.2; echo ${n} >> /root/log; cat /root/state`])));
    expect(many.map((r) => [r.exitCode, r.stdout, r.stderr])).toEqual([1, 2, 3, 4].map(() => [0, "one\n", ""]));
    const log = await box(["exec", "life", "--workdir", "/root", "--", "sort", "log"]);
    expect(log.stdout).toBe("1\n2\n3\n4\n");

    const execs = await query("SELECT argv, exit_code, reason, finished_at IS NOT NULL FROM cave_executions WHERE sandbox_id = $1 ORDER BY id", [id]);
    expect(execs.length).toBe(6);
    expect(execs[0]).toEqual([["sh", "-c", "echo one > /root/state; echo out; echo err >&2; exit 3"], 3, "exit", true]);
    expect(execs.slice(1).map((e) => [e[1], e[2], e[3]])).toEqual([1, 2, 3, 4, 5].map(() => [0, "exit", true]));

    const stopped = await box(["stop", "life", "--grace", "2s"]);
    expect([stopped.exitCode, stopped.stderr]).toEqual([0, ""]);
    expect(alive(pid)).toBe(false);
    expect(await query("SELECT status, init_pid, stopped_at IS NOT NULL FROM cave_sandboxes WHERE id = $1", [id])).toEqual([["stopped", null, true]]);
    expect(JSON.parse((await box(["inspect", id])).stdout).usage).toBeNull();
    const refused = await box(["exec", "life", "--", "true"]);
    expect(refused.exitCode).toBe(125);
    expect(refused.stderr).toContain(`sandbox ${id} is stopped: cannot exec into it`);

    // The writable layer is on disk: a restart finds what the execs wrote.
    expect((await box(["start", id])).exitCode).toBe(0);
    expect((await box(["exec", id, "--", "cat", "/root/state"])).stdout).toBe("one\n");

    const notForced = await box(["rm", id]);
    expect(notForced.exitCode).toBe(125);
    expect(notForced.stderr).toContain("is running: cannot remove it");
    const removed = await box(["rm", "--force", id]);
    expect([removed.exitCode, removed.stdout, removed.stderr]).toEqual([0, `${id}\n`, ""]);
    expect(await query("SELECT count(*) FROM cave_sandboxes WHERE id = $1", [id])).toEqual([[0]]);
    expect(await query("SELECT count(*) FROM cave_executions WHERE sandbox_id = $1", [id])).toEqual([[0]]);
    expect(existsSync(join(data, "sandboxes", id))).toBe(false);
  }, 60_000);

  describe("an exec'd command is as confined as cave run's", () => {
    let id = "";
    beforeAll(async () => {
      id = (await box(["create", "--disk", "32M"])).stdout.trim();
      expect((await box(["start", id])).exitCode).toBe(0);
    });
    afterAll(async () => {
      if (id) await box(["rm", "--force", id]);
    });
    const sh = (script: string, ...opts: string[]) => box(["exec", id, ...opts, "--", "sh", "-c", script]);

    test("it holds no capability, has no_new_privs, and runs under a seccomp filter", async () => {
      const r = await sh("grep -E '^(Cap(Inh|Prm|Eff|Bnd|Amb)|NoNewPrivs|Seccomp):' /proc/self/status | tr -s '\\t' ' '");
      expect(r.stdout).toBe(
        "CapInh: 0000000000000000\nCapPrm: 0000000000000000\nCapEff: 0000000000000000\nCapBnd: 0000000000000000\nCapAmb: 0000000000000000\nNoNewPrivs: 1\nSeccomp: 2\n",
      );
    });

    test("root inside is nobody outside, and the escape syscalls are refused (unshare gets EPERM)", async () => {
      const r = await sh("id -u; cat /proc/self/uid_map | tr -s ' '; unshare -Ur true; echo unshare=$?");
      expect(r.stdout).toBe("0\n 0 65534 1\nunshare=1\n");
      expect(r.stderr).toContain("Operation not permitted");
    });

    test("the network namespace is the sandbox's: only lo", async () => {
      expect((await sh("tail -n +3 /proc/net/dev | cut -d: -f1 | tr -d ' '")).stdout).toBe("lo\n");
    });

    test("it shares the pid namespace with the sandbox's init (pid 1, cave-init) and other execs", async () => {
      const sleeper = box(["exec", id, "--", "sleep", "2.123"]);
      // The other exec looks for the sleeper among the sandbox's processes.
      // (the pattern is bracketed so that it does not match this script's own command line)
      const r = await sh("for i in $(seq 50); do grep -la '2[.]123' /proc/[0-9]*/cmdline >/dev/null 2>&1 && break; sleep 0.05; done; tr '\\0' ' ' < /proc/1/cmdline | cut -d' ' -f1; grep -la '2[.]123' /proc/[0-9]*/cmdline 2>/dev/null | wc -l; echo $$");
      const [init, seen, self] = r.stdout.trim().split("\n");
      expect([init, seen]).toEqual(["cave-init", "1"]);
      expect(Number(self)).toBeLessThan(100);
      expect((await sleeper).exitCode).toBe(0);
    });

    test("init is not dumpable: its environment and memory are out of reach (EACCES)", async () => {
      const r = await sh("cat /proc/1/environ; echo environ=$?; cat /proc/1/maps; echo maps=$?");
      expect(r.stdout).toBe("environ=1\nmaps=1\n");
      expect(r.stderr).toContain("Permission denied");
    });

    test("writes persist across execs but never reach the host", async () => {
      const name = `cave-box-marker-${process.pid}`;
      expect((await sh(`echo inside > /etc/${name}`)).exitCode).toBe(0);
      expect((await sh(`cat /etc/${name}`)).stdout).toBe("inside\n");
      expect(existsSync(`/etc/${name}`)).toBe(false);
    });

    test("the disk limit holds: writes stop with ENOSPC and the image does not grow past it", async () => {
      const r = await sh("dd if=/dev/zero of=/root/fill bs=1M count=64 2>&1; echo dd=$?; rm -f /root/fill");
      expect(r.stdout).toContain("No space left on device");
      expect(r.stdout).toContain("dd=1");
      const img = statSync(join(data, "sandboxes", id, "disk.img"));
      expect(img.size).toBe(32 * 1024 * 1024);
      expect(img.blocks * 512).toBeLessThanOrEqual(32 * 1024 * 1024);
    });

    test("--timeout kills the command's process group (exit 124) and the sandbox keeps running", async () => {
      const r = await box(["exec", id, "--json", "--timeout", "300ms", "--", "sh", "-c", "sleep 30 & sleep 30"]);
      expect(r.exitCode).toBe(124);
      expect(jsonResult(r)).toMatchObject({ exitCode: 124, reason: "timeout", signal: "SIGKILL" });
      const left = await sh("for i in $(seq 50); do pgrep -x sleep >/dev/null || break; sleep 0.05; done; pgrep -x sleep | wc -l");
      expect(left.stdout).toBe("0\n");
    });

    test("cave cp copies bytes in and out unchanged, and a missing file is an error that says so", async () => {
      const bytes = new Uint8Array(300_000).map((_, i) => (i * 7) % 256);
      const local = join(dir, "blob.bin");
      writeFileSync(local, bytes);
      const into = await box(["cp", local, `${id}:/root/blob.bin`]);
      expect([into.exitCode, into.stderr]).toEqual([0, ""]);
      expect((await sh("wc -c < /root/blob.bin")).stdout).toBe("300000\n");
      const back = join(dir, "back.bin");
      const out = await box(["cp", `${id}:/root/blob.bin`, back]);
      expect([out.exitCode, out.stderr]).toEqual([0, ""]);
      expect(Buffer.compare(readFileSync(back), Buffer.from(bytes))).toBe(0);
      const viaStdio = await box(["cp", "-", `${id}:/tmp/note`], "from stdin\n");
      expect(viaStdio.exitCode).toBe(0);
      expect((await box(["cp", `${id}:/tmp/note`, "-"])).stdout).toBe("from stdin\n");
      const missing = await box(["cp", `${id}:/root/nope`, back]);
      expect([missing.exitCode, missing.stderr]).toEqual([125, "cave: no file /root/nope in the sandbox\n  hint: check the path; only regular files are copied\n"]);
    });

    test("cave logs lists each exec oldest first with its status, duration and command, quoted for a shell", async () => {
      expect((await sh("exit 0")).exitCode).toBe(0);
      expect((await sh("exit 3")).exitCode).toBe(3);
      const r = await box(["logs", id, "--limit", "1"]);
      expect(r.exitCode).toBe(0);
      expect(r.stdout).toMatch(/^\d{4}-\d\d-\d\d [\d:.]+\+00 {2}#\d+ {2}exit 3 {2}[\d.]+ms {2}sh -c 'exit 3'\n$/);
      const json = (await box(["logs", id, "--json", "--limit", "2"])).stdout.trim().split("\n").map((l) => JSON.parse(l));
      expect(json.map((e: { argv: string[]; exitCode: number }) => [e.argv.at(-1), e.exitCode])).toEqual([
        ["exit 0", 0],
        ["exit 3", 3],
      ]);
    });

    test.skipIf(!Bun.which("script"))("in a terminal, the command gets a pseudo-terminal of the sandbox's own devpts (skipped without script)", async () => {
      const cmd = `${CAVE} exec ${id} -- sh -c 'tty; test -t 0 && test -t 1 && echo both-terminals; exit 4'`;
      const proc = Bun.spawn([Bun.which("script") as string, "-qec", cmd, "/dev/null"], {
        cwd: dir,
        env: { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: "/tmp", CAVE_DATA_DIR: data },
        stdin: "ignore",
        stdout: "pipe",
        stderr: "pipe",
      });
      const [out, code] = await Promise.all([new Response(proc.stdout).text(), proc.exited]);
      expect([code, out.replaceAll("\r", "")]).toEqual([4, expect.stringMatching(/^\/dev\/pts\/\d+\nboth-terminals\n$/)]);
    });

    test("SIGINT to cave exec kills the command's process group (exit 130) and leaves the sandbox running", async () => {
      const proc = Bun.spawn([CAVE, "exec", id, "--", "sh", "-c", "sleep 31 & sleep 32"], {
        cwd: dir,
        env: { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: "/tmp", CAVE_DATA_DIR: data },
        stdin: "ignore",
        stdout: "pipe",
        stderr: "pipe",
      });
      const seen = await sh("for i in $(seq 100); do [ $(pgrep -c -x sleep) = 2 ] && break; sleep 0.05; done; pgrep -c -x sleep");
      expect(seen.stdout).toBe("2\n");
      proc.kill("SIGINT");
      const [err, code] = await Promise.all([new Response(proc.stderr).text(), proc.exited]);
      expect([code, err]).toEqual([130, "cave: cave received SIGINT; the command's process group was killed\n"]);
      const left = await sh("for i in $(seq 50); do pgrep -x sleep >/dev/null || break; sleep 0.05; done; pgrep -c -x sleep");
      expect(left.stdout).toBe("0\n");
    });

    test("the timeout ends what the command started even outside its process group (setsid), through the exec's own cgroup", async () => {
      const r = await box(["exec", id, "--timeout", "400ms", "--", "sh", "-c", "setsid sleep 41 >/dev/null 2>&1 </dev/null & sleep 42"]);
      expect(r.exitCode).toBe(124);
      const left = await sh("pgrep -c -x sleep");
      expect(left.stdout).toBe("0\n");
    });

    test("what an exec leaves running on purpose (a daemon) keeps running after it ends, until the sandbox stops", async () => {
      const r = await box(["exec", id, "--", "sh", "-c", "setsid sleep 43 >/dev/null 2>&1 </dev/null & echo started"]);
      expect([r.exitCode, r.stdout]).toEqual([0, "started\n"]);
      // (bracketed so that the pattern does not match the shell running it)
      expect((await sh("pgrep -c -f 'sleep 4[3]'")).stdout).toBe("1\n");
      expect((await sh("pkill -f 'sleep 4[3]'; echo $?")).stdout).toBe("0\n");
    });

    test("--env and --workdir apply to the exec", async () => {
      const r = await box(["exec", id, "--env", "A=1", "--workdir", "/tmp", "--", "sh", "-c", "echo $A; pwd"]);
      expect([r.exitCode, r.stdout]).toEqual([0, "1\n/tmp\n"]);
    });
  });

  test("a sandbox whose init was killed from outside is marked lost, starts again with its disk, and rm cleans it up", async () => {
    const id = (await box(["create", "--disk", "32M"])).stdout.trim();
    expect((await box(["start", id])).exitCode).toBe(0);
    expect((await box(["exec", id, "--", "sh", "-c", "echo survived > /root/mark; sync"])).exitCode).toBe(0);
    const [[pid]] = (await query("SELECT init_pid FROM cave_sandboxes WHERE id = $1", [id])) as [[number]];
    expect(cgroupsOf(id).length).toBe(1);
    process.kill(pid, "SIGKILL");
    for (let i = 0; i < 100 && alive(pid); i++) await Bun.sleep(10);
    const ls = JSON.parse((await box(["ls", "--json"])).stdout) as { id: string; status: string }[];
    expect(ls.find((s) => s.id === id)?.status).toBe("lost");
    expect(await query("SELECT status FROM cave_sandboxes WHERE id = $1", [id])).toEqual([["lost"]]);
    // Its image is released with its mount namespace; a new start mounts it again.
    const again = await box(["start", id]);
    expect([again.exitCode, again.stderr]).toEqual([0, ""]);
    expect((await box(["exec", id, "--", "cat", "/root/mark"])).stdout).toBe("survived\n");
    const [[pid2]] = (await query("SELECT init_pid FROM cave_sandboxes WHERE id = $1", [id])) as [[number]];
    process.kill(pid2, "SIGKILL");
    for (let i = 0; i < 100 && alive(pid2); i++) await Bun.sleep(10);
    const r = await box(["rm", id]);
    expect([r.exitCode, r.stderr]).toEqual([0, ""]);
    expect(cgroupsOf(id)).toEqual([]);
  }, 30_000);

  test("stop sends SIGTERM to every process inside and waits: a process that exits on it ends cleanly; one that ignores it is killed after the grace period", async () => {
    const id = (await box(["create", "--disk", "32M"])).stdout.trim();
    expect((await box(["start", id])).exitCode).toBe(0);
    // A background process that cleans up on SIGTERM (its stdio detached from this exec's).
    const polite = "trap 'echo bye > /root/bye; exit 0' TERM; while :; do sleep 0.05; done";
    expect((await box(["exec", id, "--", "sh", "-c", `sh -c "${polite}" >/dev/null 2>&1 </dev/null & echo started`])).stdout).toBe("started\n");
    const stopped = await box(["stop", id, "--grace", "10s", "--json"]);
    expect([stopped.exitCode, JSON.parse(stopped.stdout).how]).toEqual([0, "stopped"]);
    expect((await box(["start", id])).exitCode).toBe(0);
    expect((await box(["exec", id, "--", "cat", "/root/bye"])).stdout).toBe("bye\n");
    // One that ignores SIGTERM is SIGKILLed when the grace period is over.
    const stubborn = "trap '' TERM; while :; do sleep 0.05; done";
    expect((await box(["exec", id, "--", "sh", "-c", `sh -c "${stubborn}" >/dev/null 2>&1 </dev/null & echo started`])).stdout).toBe("started\n");
    const killed = await box(["stop", id, "--grace", "300ms", "--json"]);
    expect([killed.exitCode, JSON.parse(killed.stdout).how, JSON.parse(killed.stdout).status]).toEqual([0, "killed", "stopped"]);
    expect((await box(["rm", id])).exitCode).toBe(0);
  }, 30_000);

  test("an init whose start time does not match (its pid reused) is never joined or signalled: the sandbox reads as lost and exec refuses", async () => {
    const id = (await box(["create", "--disk", "32M"])).stdout.trim();
    expect((await box(["start", id])).exitCode).toBe(0);
    const [[pid]] = (await query("SELECT init_pid FROM cave_sandboxes WHERE id = $1", [id])) as [[number]];
    // As if that pid now belonged to another process: same number, another start time.
    await query("UPDATE cave_sandboxes SET init_start_time = '1' WHERE id = $1", [id]);
    const r = await box(["exec", id, "--", "true"]);
    expect([r.exitCode, r.stderr]).toEqual([125, `cave: sandbox ${id} is lost: cannot exec into it\n  hint: start it first: cave start ${id}\n`]);
    expect(await query("SELECT status FROM cave_sandboxes WHERE id = $1", [id])).toEqual([["lost"]]);
    // The process with that pid was not touched by exec; the next cave ls finds its cgroup
    // owned by no running sandbox and ends it (nothing cave does not know about keeps running).
    expect(alive(pid)).toBe(true);
    expect((await box(["ls"])).exitCode).toBe(0);
    for (let i = 0; i < 100 && alive(pid); i++) await Bun.sleep(10);
    expect(alive(pid)).toBe(false);
    expect((await box(["rm", id])).exitCode).toBe(0);
  }, 30_000);

  test("a sandbox cave no longer knows about (its row deleted) is killed by the next cave ls of its data directory: nothing unknown keeps running", async () => {
    const id = (await box(["create", "--disk", "32M"])).stdout.trim();
    expect((await box(["start", id])).exitCode).toBe(0);
    const [[pid]] = (await query("SELECT init_pid FROM cave_sandboxes WHERE id = $1", [id])) as [[number]];
    expect(cgroupsOf(id).length).toBe(1);
    // Another data directory's cave ls leaves it alone: it is not that directory's to judge.
    const other = join(dir, "other-data");
    expect((await cave(["ls"], { cwd: dir, env: { CAVE_DATA_DIR: other } })).exitCode).toBe(0);
    expect(alive(pid)).toBe(true);
    await query("DELETE FROM cave_sandboxes WHERE id = $1", [id]);
    const ls = await box(["ls", "--json"]);
    expect([ls.exitCode, ls.stderr]).toEqual([0, ""]);
    expect((JSON.parse(ls.stdout) as { id: string }[]).map((s) => s.id)).not.toContain(id);
    for (let i = 0; i < 100 && alive(pid); i++) await Bun.sleep(10);
    expect(alive(pid)).toBe(false);
    expect(cgroupsOf(id)).toEqual([]);
    rmSync(join(data, "sandboxes", id), { recursive: true, force: true });
  }, 30_000);

  test("past CAVE_MAX_SANDBOXES running at once, start is refused with a clear error and nothing starts", async () => {
    const limited = (args: string[]) => cave(args, { cwd: dir, env: { CAVE_DATA_DIR: data, CAVE_MAX_SANDBOXES: "1" } });
    const a = (await box(["create", "--disk", "32M"])).stdout.trim();
    const b = (await box(["create", "--disk", "32M"])).stdout.trim();
    expect((await limited(["start", a])).exitCode).toBe(0);
    const refused = await limited(["start", b]);
    expect([refused.exitCode, refused.stdout]).toEqual([125, ""]);
    expect(refused.stderr).toBe(
      "cave: 1 sandboxes are running, the most allowed at once (1)\n  hint: stop one first, or raise the limit with CAVE_MAX_SANDBOXES (cave serve --max-sandboxes)\n",
    );
    expect(await query("SELECT status FROM cave_sandboxes WHERE id = $1", [b])).toEqual([["created"]]);
    expect((await box(["rm", "--force", a])).exitCode).toBe(0);
    expect((await limited(["start", b])).exitCode).toBe(0);
    expect((await box(["rm", "--force", b])).exitCode).toBe(0);
  }, 30_000);

  test("unknown ids and names are refused with a hint", async () => {
    const r = await box(["start", "nope"]);
    expect(r.exitCode).toBe(125);
    expect(r.stderr).toBe('cave: no sandbox "nope"\n  hint: list them with cave ls\n');
  });
});
