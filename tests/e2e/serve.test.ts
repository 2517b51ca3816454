// `cave serve` through the compiled binary on port 0: the HTTP lifecycle with auth and the
// error contract, state checked in the database, a server restart in the middle, and the
// CLI working on the same sandboxes.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { chmodSync, existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Engine } from "../../src/db/engine.ts";
import { openStore } from "../../src/db/store/index.ts";
import { CAVE, cave } from "../helpers/cave.ts";

const root = process.getuid?.() === 0;
const loop = existsSync("/dev/loop-control");
const mkfs = Bun.which("mkfs.ext4", { PATH: "/usr/sbin:/sbin:/usr/bin:/bin" }) !== null;
const skip = !root || !loop || !mkfs;
const why = !root ? "needs root" : !loop ? "needs loop devices" : "needs mkfs.ext4 (e2fsprogs)";

const KEY = `test-key-${"x".repeat(24)}`;
let dir: string;
let data: string;

interface Server {
  url: string;
  stderr: () => string;
  stop: () => Promise<number>;
}

/** Starts `cave serve --port 0` and waits for the line that says where it listens. */
async function startServer(env: Record<string, string> = { CAVE_ADMIN_KEY: KEY }): Promise<Server> {
  const proc = Bun.spawn([CAVE, "serve", "--port", "0"], {
    cwd: dir,
    env: { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: "/tmp", CAVE_DATA_DIR: data, ...env },
    stdout: "ignore",
    stderr: "pipe",
  });
  let err = "";
  const reader = proc.stderr.getReader();
  const decoder = new TextDecoder();
  while (!/listening on (\S+)/.test(err)) {
    const { done, value } = await reader.read();
    if (done) throw new Error(`cave serve exited: ${err}`);
    err += decoder.decode(value);
  }
  const url = (/listening on (\S+)/.exec(err) as RegExpExecArray)[1] as string;
  void (async () => {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      err += decoder.decode(value);
    }
  })();
  return {
    url,
    stderr: () => err,
    stop: async () => {
      proc.kill("SIGTERM");
      return await proc.exited;
    },
  };
}

const auth = { authorization: `Bearer ${KEY}` };
async function call(s: Server, method: string, path: string, body?: unknown, headers: Record<string, string> = auth) {
  const res = await fetch(`${s.url}${path}`, {
    method,
    headers: { ...headers, ...(body !== undefined ? { "content-type": "application/json" } : {}) },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : null };
}

async function query(sql: string, params: unknown[] = []): Promise<unknown[][]> {
  const db = await Engine.open(openStore(join(data, "cave.db")));
  try {
    return (await db.query(sql, params)).rows;
  } finally {
    db.close();
  }
}

describe.skipIf(skip)(`cave serve (${skip ? `skipped: ${why}` : "as root, port 0"})`, () => {
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), "cave-serve-"));
    chmodSync(dir, 0o755);
    data = join(dir, "data");
  });
  afterAll(async () => {
    if (existsSync(data)) {
      const ls = await cave(["ls", "--json"], { cwd: dir, env: { CAVE_DATA_DIR: data } });
      for (const s of JSON.parse(ls.stdout || "[]") as { id: string }[]) await cave(["rm", "--force", s.id], { cwd: dir, env: { CAVE_DATA_DIR: data } });
    }
    rmSync(dir, { recursive: true, force: true });
  });

  test("create → start → exec (several, some concurrent) → stop → delete over HTTP, surviving a server restart, with the state in the database", async () => {
    let s = await startServer();
    try {
      const created = await call(s, "POST", "/v1/sandboxes", { name: "api", disk: "32M", memory: "256M" });
      expect(created.status).toBe(201);
      const id = created.body.id as string;
      expect(created.body).toMatchObject({ id, name: "api", status: "created", initPid: null });
      expect((await call(s, "POST", `/v1/sandboxes/${id}/start`)).body.status).toBe("running");

      const one = await call(s, "POST", `/v1/sandboxes/api/exec`, { cmd: ["sh", "-c", "cat > /root/in; tr a-z A-Z < /root/in; echo oops >&2; exit 4"], stdin: "hello\n" });
      expect(one.status).toBe(200);
      expect(one.body).toMatchObject({ exitCode: 4, signal: null, reason: "exit", stdout: "HELLO\n", stderr: "oops\n" });
      const many = await Promise.all([1, 2, 3, 4, 5].map((n) => call(s, "POST", `/v1/sandboxes/${id}/exec`, { cmd: ["sh", "-c", `sleep 0.2; echo ${n}`], env: { N: String(n) } })));
      expect(many.map((r) => [r.status, r.body.exitCode, r.body.stdout])).toEqual([1, 2, 3, 4, 5].map((n) => [200, 0, `${n}\n`]));

      // Files in and out, as bytes.
      const blob = new Uint8Array(70_000).map((_, i) => (i * 13) % 256);
      const put = await fetch(`${s.url}/v1/sandboxes/${id}/files?path=/root/blob`, { method: "PUT", headers: auth, body: blob });
      expect(put.status).toBe(204);
      const got0 = await fetch(`${s.url}/v1/sandboxes/${id}/files?path=/root/blob`, { headers: auth });
      expect([got0.status, got0.headers.get("content-type")]).toEqual([200, "application/octet-stream"]);
      expect(Buffer.compare(Buffer.from(await got0.arrayBuffer()), Buffer.from(blob))).toBe(0);
      const none = await call(s, "GET", `/v1/sandboxes/${id}/files?path=/root/none`);
      expect([none.status, none.body.error.code]).toEqual([404, "SANDBOX_FILE_NOT_FOUND"]);

      // Streamed: the first line comes while the command still sleeps, the exit line last.
      const res = await fetch(`${s.url}/v1/sandboxes/${id}/exec?stream=ndjson`, {
        method: "POST",
        headers: { ...auth, "content-type": "application/json" },
        body: JSON.stringify({ cmd: ["sh", "-c", "echo first; sleep 1; echo second >&2; exit 2"] }),
      });
      expect([res.status, res.headers.get("content-type")]).toEqual([200, "application/x-ndjson"]);
      const reader = (res.body as ReadableStream<Uint8Array>).getReader();
      const firstChunk = new TextDecoder().decode((await reader.read()).value);
      expect(firstChunk).toBe('{"type":"stdout","data":"first\\n"}\n');
      let rest = "";
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        rest += new TextDecoder().decode(value);
      }
      const lines = rest.trim().split("\n").map((l) => JSON.parse(l));
      expect(lines[0]).toEqual({ type: "stderr", data: "second\n" });
      expect(lines[1]).toMatchObject({ type: "exit", exitCode: 2, reason: "exit", signal: null });
      expect(lines.length).toBe(2);

      // A client that hangs up mid-stream breaks neither the exec (it is recorded when it ends) nor the server.
      const abort = new AbortController();
      const hungUp = await fetch(`${s.url}/v1/sandboxes/${id}/exec?stream=ndjson`, {
        method: "POST",
        headers: { ...auth, "content-type": "application/json" },
        body: JSON.stringify({ cmd: ["sh", "-c", "echo before; sleep 0.5; echo after; exit 6"] }),
        signal: abort.signal,
      });
      await (hungUp.body as ReadableStream<Uint8Array>).getReader().read();
      abort.abort();
      expect((await call(s, "GET", "/healthz", undefined, {})).status).toBe(200);
      for (let i = 0; i < 100; i++) {
        const [last] = await query("SELECT exit_code FROM cave_executions WHERE sandbox_id = $1 ORDER BY id DESC LIMIT 1", [id]);
        if (last?.[0] === 6) break;
        await Bun.sleep(20);
      }
      expect(await query("SELECT exit_code, reason FROM cave_executions WHERE sandbox_id = $1 ORDER BY id DESC LIMIT 1", [id])).toEqual([[6, "exit"]]);

      // A restart of the server: the sandbox keeps running and is found again.
      expect(await s.stop()).toBe(0);
      s = await startServer();
      const got = await call(s, "GET", `/v1/sandboxes/${id}`);
      expect([got.status, got.body.status, got.body.usage.pids]).toEqual([200, "running", 1]);
      const again = await call(s, "POST", `/v1/sandboxes/${id}/exec`, { cmd: ["cat", "/root/in"], timeout: "5s" });
      expect([again.body.exitCode, again.body.stdout]).toEqual([0, "hello\n"]);

      // The CLI sees and drives the same sandbox.
      const viaCli = await cave(["exec", "api", "--", "cat", "/root/in"], { cwd: dir, env: { CAVE_DATA_DIR: data } });
      expect([viaCli.exitCode, viaCli.stdout]).toEqual([0, "hello\n"]);

      const execs = await query("SELECT exit_code, reason FROM cave_executions WHERE sandbox_id = $1 ORDER BY id", [id]);
      // the first, the five concurrent ones, the copies (put, get, a get of a missing file: 44), the streamed ones, then one after the restart and the CLI's
      expect(execs).toEqual([[4, "exit"], ...[1, 2, 3, 4, 5].map(() => [0, "exit"]), [0, "exit"], [0, "exit"], [44, "exit"], [2, "exit"], [6, "exit"], [0, "exit"], [0, "exit"]]);

      const stopped = await call(s, "POST", `/v1/sandboxes/${id}/stop`, { grace: "2s" });
      expect([stopped.status, stopped.body.status, stopped.body.initPid]).toEqual([200, "stopped", null]);
      const del = await call(s, "DELETE", `/v1/sandboxes/${id}`);
      expect(del.status).toBe(204);
      expect(await query("SELECT count(*) FROM cave_sandboxes WHERE id = $1", [id])).toEqual([[0]]);
      expect((await call(s, "GET", "/v1/sandboxes")).body).toEqual([]);
    } finally {
      await s.stop();
    }
  }, 60_000);

  test("many sandboxes at once: three started together over HTTP each run concurrent execs in their own namespaces and disks", async () => {
    const s = await startServer();
    try {
      const ids = await Promise.all([1, 2, 3].map(async (n) => (await call(s, "POST", "/v1/sandboxes", { disk: "32M", hostname: `box${n}` })).body.id as string));
      const started = await Promise.all(ids.map((id) => call(s, "POST", `/v1/sandboxes/${id}/start`)));
      expect(started.map((r) => [r.status, r.body.status])).toEqual(ids.map(() => [200, "running"]));
      const runs = await Promise.all(
        ids.flatMap((id, i) => [0, 1].map((k) => call(s, "POST", `/v1/sandboxes/${id}/exec`, { cmd: ["sh", "-c", `echo ${i}-${k} >> /root/log; hostname`] }))),
      );
      expect(runs.map((r) => [r.body.exitCode, r.body.stdout])).toEqual(ids.flatMap((_, i) => [0, 1].map(() => [0, `box${i + 1}\n`])));
      const logs = await Promise.all(ids.map((id) => call(s, "POST", `/v1/sandboxes/${id}/exec`, { cmd: ["sort", "/root/log"] })));
      expect(logs.map((r) => r.body.stdout)).toEqual(ids.map((_, i) => `${i}-0\n${i}-1\n`));
      for (const id of ids) expect((await call(s, "DELETE", `/v1/sandboxes/${id}?force=true`)).status).toBe(204);
    } finally {
      await s.stop();
    }
  }, 60_000);

  test("errors are JSON with a code: 401 without the key, 400 naming the bad field, 404 for an unknown id, 409 in the wrong state", async () => {
    const s = await startServer();
    try {
      expect(await call(s, "GET", "/healthz", undefined, {})).toEqual({ status: 200, body: { ok: true } });
      expect(await call(s, "GET", "/readyz", undefined, {})).toEqual({ status: 200, body: { ok: true } });
      const noKey = await call(s, "GET", "/v1/sandboxes", undefined, {});
      expect([noKey.status, noKey.body.error.code]).toEqual([401, "AUTH_REQUIRED"]);
      const wrongKey = await call(s, "GET", "/v1/sandboxes", undefined, { authorization: "Bearer nope" });
      expect(wrongKey.status).toBe(401);
      const bad = await call(s, "POST", "/v1/sandboxes", { memory: "lots" });
      expect([bad.status, bad.body.error.code]).toEqual([400, "BAD_REQUEST"]);
      expect(bad.body.error.message).toContain("lots");
      const unknownField = await call(s, "POST", "/v1/sandboxes", { colour: "red" });
      expect([unknownField.status, unknownField.body.error.message]).toEqual([400, expect.stringContaining("colour")]);
      const missing = await call(s, "GET", "/v1/sandboxes/000000000000");
      expect([missing.status, missing.body.error.code]).toEqual([404, "SANDBOX_NOT_FOUND"]);
      const id = (await call(s, "POST", "/v1/sandboxes", { disk: "32M" })).body.id as string;
      const notRunning = await call(s, "POST", `/v1/sandboxes/${id}/exec`, { cmd: ["true"] });
      expect([notRunning.status, notRunning.body.error.code]).toEqual([409, "SANDBOX_STATE"]);
      const noCmd = await call(s, "POST", `/v1/sandboxes/${id}/exec`, { cmd: [] });
      expect([noCmd.status, noCmd.body.error.message]).toEqual([400, expect.stringContaining("cmd")]);
      const badEnv = await call(s, "POST", `/v1/sandboxes/${id}/exec`, { cmd: ["true"], env: { "A=B": "x" } });
      expect([badEnv.status, badEnv.body.error.message]).toEqual([400, expect.stringContaining("field env")]);
      const nul = await call(s, "POST", `/v1/sandboxes/${id}/exec`, { cmd: ["echo", "a\u0000b"] });
      expect([nul.status, nul.body.error.message]).toEqual([400, "field cmd.1: no NUL in arguments"]);
      expect((await call(s, "DELETE", `/v1/sandboxes/${id}`)).status).toBe(204);
    } finally {
      await s.stop();
    }
  }, 30_000);

  test("the CLI verbs drive a remote cave serve with --url/CAVE_URL and a key, exec's output and status passing through", async () => {
    const s = await startServer();
    const elsewhere = mkdtempSync(join(tmpdir(), "cave-remote-client-"));
    // A client without the data directory: everything goes over HTTP.
    const remote = (args: string[], env: Record<string, string> = {}, stdin?: string) =>
      cave(args, { cwd: elsewhere, env: { CAVE_URL: s.url, CAVE_API_KEY: KEY, CAVE_DATA_DIR: join(elsewhere, "none"), ...env }, ...(stdin !== undefined ? { stdin } : {}) });
    try {
      const created = await remote(["create", "--name", "far", "--disk", "32M", "--env", "GREETING=hi"]);
      expect([created.exitCode, created.stderr]).toEqual([0, ""]);
      const id = created.stdout.trim();
      expect((await remote(["start", "far"])).stdout).toBe(`${id}\n`);
      const r = await remote(["exec", "far", "--", "sh", "-c", "echo $GREETING; echo warn >&2; exit 9"]);
      expect([r.exitCode, r.stdout, r.stderr]).toEqual([9, "hi\n", "warn\n"]);
      const piped = await remote(["exec", "far", "--", "tr", "a-z", "A-Z"], {}, "piped in\n");
      expect([piped.exitCode, piped.stdout]).toEqual([0, "PIPED IN\n"]);
      const timedOut = await remote(["exec", "far", "--timeout", "300ms", "--", "sleep", "30"]);
      expect([timedOut.exitCode, timedOut.stderr]).toEqual([124, "cave: timed out after 300ms; the command's process group was killed\n"]);
      expect((await remote(["cp", "-", "far:/root/x"], {}, "over http\n")).exitCode).toBe(0);
      expect((await remote(["cp", "far:/root/x", "-"])).stdout).toBe("over http\n");
      const inspected = JSON.parse((await remote(["inspect", "far"])).stdout) as { status: string; executions: { exitCode: number }[] };
      expect(inspected.status).toBe("running");
      expect(inspected.executions.map((e) => e.exitCode)).toEqual([0, 0, 124, 0, 9]);
      expect(JSON.parse((await remote(["ls", "--json"])).stdout).map((x: { id: string }) => x.id)).toEqual([id]);
      const bind = await remote(["create", "--bind", "/tmp:/mnt"]);
      expect([bind.exitCode, bind.stderr]).toEqual([2, "cave: --bind cannot be given to a remote cave serve yet\n  hint: create it on the server's host, or leave those flags out\n"]);
      const noKey = await remote(["ls"], { CAVE_API_KEY: "" });
      expect([noKey.exitCode, noKey.stderr]).toEqual([
        2,
        `cave: no API key for ${s.url}\n  hint: give --key or set CAVE_API_KEY (the key cave serve showed at its first start, or CAVE_ADMIN_KEY)\n`,
      ]);
      const wrongKey = await remote(["ls"], { CAVE_API_KEY: "wrong-key-wrong-key" });
      expect([wrongKey.exitCode, wrongKey.stderr]).toEqual([2, "cave: the API key is not valid (check the key; an admin lists keys with cave keys list)\n"]);
      expect((await remote(["stop", "far", "--grace", "1s"])).exitCode).toBe(0);
      expect((await remote(["rm", "far"])).exitCode).toBe(0);
      expect(JSON.parse((await remote(["ls", "--json"])).stdout)).toEqual([]);
    } finally {
      await s.stop();
      rmSync(elsewhere, { recursive: true, force: true });
    }
  }, 60_000);

  test("without CAVE_ADMIN_KEY the first start makes a key, shows it once and keeps only its hash", async () => {
    const own = join(dir, "keyed");
    const prev = data;
    data = own;
    try {
      const first = await startServer({});
      const key = /admin API key \(shown once; only its hash is kept\): (cave_[0-9a-f]{12}_[A-Za-z0-9_-]{43})/.exec(first.stderr())?.[1];
      expect(key).toBeDefined();
      expect((await call(first, "GET", "/v1/sandboxes", undefined, { authorization: `Bearer ${key}` })).status).toBe(200);
      await first.stop();
      const second = await startServer({});
      expect(second.stderr()).not.toContain("admin API key");
      expect((await call(second, "GET", "/v1/sandboxes", undefined, { authorization: `Bearer ${key}` })).status).toBe(200);
      await second.stop();
      const stored = await query("SELECT hash FROM cave_api_keys");
      expect(stored).toEqual([[new Bun.CryptoHasher("sha256").update(key as string).digest("hex")]]);
    } finally {
      data = prev;
    }
  }, 30_000);
});
