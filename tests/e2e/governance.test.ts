// Issue 7 end to end: a real `cave serve --port 0` (from source, or $CAVE_BIN) with a webhook
// receiver and an OTLP receiver on loopback. Keys of every role are issued through /v1/keys and
// `cave keys`; the role matrix is walked over the real routes with real sandboxes; the rate
// limit holds under parallel clients; a rotated key works within its grace and not after; a
// revoked key is refused; webhook deliveries are checked with node:crypto (not cave's code);
// after the server stops, the audit log verifies with `cave audit verify --pubkey` and holds
// the actions in order under the request ids the responses carried; the spans arrived (one
// SERVER span per request, the exec's span with its setup phases); /metrics parses.
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { createHmac } from "node:crypto";
import { chmodSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";

const ROOT = resolve(import.meta.dir, "../..");
const CMD = process.env.CAVE_BIN
  ? [process.env.CAVE_BIN]
  : [join(ROOT, "node_modules/.bin/bun"), join(ROOT, "src/cli/main.ts")];

const root = process.getuid?.() === 0;
const loop = existsSync("/dev/loop-control");
const mkfs = Bun.which("mkfs.ext4", { PATH: "/usr/sbin:/sbin:/usr/bin:/bin" }) !== null;
const skip = !root || !loop || !mkfs;
const why = !root ? "needs root" : !loop ? "needs loop devices" : "needs mkfs.ext4 (e2fsprogs)";
const PYTHON = "/usr/bin/python3";
const hasParser =
  Bun.spawnSync([PYTHON, "-c", "import prometheus_client.parser"], { stdout: "ignore", stderr: "ignore" }).exitCode ===
  0;

setDefaultTimeout(30_000);
const SECRET = "whsec-e2e-0123456789abcdef";
const SESSION_LIMIT = 5;

let dir: string;
let data: string;
let configPath: string;
let proc: Bun.Subprocess<"ignore", "ignore", "pipe">;
let url: string;
let stderr = "";
let adminKey: string;

interface Delivery {
  headers: Record<string, string>;
  body: string;
}
const deliveries: Delivery[] = [];
let hooks: ReturnType<typeof Bun.serve>;
interface OtlpSpan {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name: string;
  kind: number;
  attributes: { key: string; value: Record<string, unknown> }[];
}
const spans: OtlpSpan[] = [];
let otlp: ReturnType<typeof Bun.serve>;

// biome-ignore lint/suspicious/noExplicitAny: response bodies are checked field by field
type Json = any;

/** Every response of the run: its request id and traceparent, for the audit log and span checks. */
const seen: { route: string; status: number; requestId: string; traceparent: string }[] = [];

async function call(
  key: string | null,
  method: string,
  path: string,
  body?: unknown,
  extra: Record<string, string> = {},
) {
  const res = await fetch(`${url}${path}`, {
    method,
    headers: {
      ...(key ? { authorization: `Bearer ${key}` } : {}),
      ...(body !== undefined ? { "content-type": "application/json" } : {}),
      ...extra,
    },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  });
  const text = await res.text();
  const requestId = res.headers.get("x-request-id") ?? "";
  seen.push({
    route: `${method} ${path}`,
    status: res.status,
    requestId,
    traceparent: res.headers.get("traceparent") ?? "",
  });
  let parsed: unknown = text;
  try {
    parsed = text ? JSON.parse(text) : null;
  } catch {
    // /metrics is text
  }
  return { status: res.status, body: parsed as Record<string, Json>, headers: res.headers, requestId };
}
const code = (r: { body: Record<string, Json> }) => r.body?.error?.code as string;

/** A cave verb on the same data directory; async, since the webhook receiver it posts to lives in this process. */
async function cli(args: string[]): Promise<{ exitCode: number; stdout: string; stderr: string }> {
  const p = Bun.spawn([...CMD, ...args, "--data-dir", data, "--config", configPath], {
    cwd: dir,
    env: { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: "/tmp", USER: "root" },
    stdout: "pipe",
    stderr: "pipe",
  });
  const [stdout, stderr, exitCode] = await Promise.all([
    new Response(p.stdout).text(),
    new Response(p.stderr).text(),
    p.exited,
  ]);
  return { exitCode, stdout, stderr };
}

async function until(what: string, ok: () => boolean, ms = 15_000): Promise<void> {
  const end = Date.now() + ms;
  while (!ok()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await Bun.sleep(20);
  }
}

describe.skipIf(skip)(`governance end to end (${skip ? `skipped: ${why}` : "cave serve as root, port 0"})`, () => {
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "cave-gov-"));
    chmodSync(dir, 0o755);
    data = join(dir, "data");
    hooks = Bun.serve({
      port: 0,
      hostname: "127.0.0.1",
      async fetch(req) {
        deliveries.push({ headers: Object.fromEntries(req.headers), body: await req.text() });
        return new Response("ok");
      },
    });
    otlp = Bun.serve({
      port: 0,
      hostname: "127.0.0.1",
      async fetch(req) {
        const body = (await req.json()) as { resourceSpans?: { scopeSpans: { spans: OtlpSpan[] }[] }[] };
        if (new URL(req.url).pathname === "/v1/traces")
          for (const r of body.resourceSpans ?? []) for (const s of r.scopeSpans) spans.push(...s.spans);
        return Response.json({});
      },
    });
    configPath = join(dir, "cave.yaml");
    writeFileSync(
      configPath,
      [
        "limits:",
        "  rate:",
        `    session: ${SESSION_LIMIT}`,
        "webhooks:",
        `  - url: http://127.0.0.1:${hooks.port}/hook`,
        `    secret: ${SECRET}`,
        "telemetry:",
        `  endpoint: http://127.0.0.1:${otlp.port}`,
        "",
      ].join("\n"),
    );
    proc = Bun.spawn([...CMD, "serve", "--port", "0", "--data-dir", data, "--config", configPath], {
      cwd: dir,
      env: { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: "/tmp", USER: "root", OTEL_BSP_SCHEDULE_DELAY: "50" },
      stdout: "ignore",
      stderr: "pipe",
    });
    const reader = proc.stderr.getReader();
    const decoder = new TextDecoder();
    while (!/listening on (\S+)/.test(stderr)) {
      const { done, value } = await reader.read();
      if (done) throw new Error(`cave serve exited: ${stderr}`);
      stderr += decoder.decode(value);
    }
    url = (/listening on (\S+)/.exec(stderr) as RegExpExecArray)[1] as string;
    adminKey = (
      /admin API key \(shown once; only its hash is kept\): (cave_\S+)/.exec(stderr) as RegExpExecArray
    )[1] as string;
    void (async () => {
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        stderr += decoder.decode(value);
      }
    })();
  });
  afterAll(async () => {
    if (proc && proc.exitCode === null) {
      proc.kill("SIGTERM");
      await proc.exited;
    }
    if (existsSync(data)) {
      for (const id of readdirSync(join(data, "sandboxes")).filter((x) => /^[0-9a-f]{12}$/.test(x))) {
        Bun.spawnSync([...CMD, "rm", "--force", id, "--data-dir", data], {
          env: { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: "/tmp" },
        });
      }
    }
    hooks?.stop(true);
    otlp?.stop(true);
    rmSync(dir, { recursive: true, force: true });
  });

  // Shared across the tests, in order.
  type Key = { id: string; key: string };
  const k = {} as Record<"red" | "red2" | "model" | "blue" | "session", Key>;
  const box = {} as Record<"r1" | "b1", string>;

  test("keys of every role come from /v1/keys (admin only) and from cave keys; the secret is shown once and never listed", async () => {
    const red = await call(
      adminKey,
      "POST",
      "/v1/keys",
      { role: "namespace", namespace: "red", name: "red-team" },
      { "x-request-id": "e2e-issue-red" },
    );
    expect([red.status, red.requestId, red.body.role, red.body.namespace]).toEqual([
      201,
      "e2e-issue-red",
      "namespace",
      "red",
    ]);
    expect(red.body.key).toMatch(/^cave_[0-9a-f]{12}_[A-Za-z0-9_-]{43}$/);
    k.red = { id: red.body.id, key: red.body.key };
    const model = await call(adminKey, "POST", "/v1/keys", { role: "model-access", name: "scraper" });
    expect(model.status).toBe(201);
    k.model = { id: model.body.id, key: model.body.key };

    const blue = await cli([
      "keys",
      "issue",
      "--role",
      "namespace",
      "--namespace",
      "blue",
      "--name",
      "blue-team",
      "--json",
    ]);
    expect([blue.exitCode, blue.stderr]).toEqual([0, ""]);
    const b = JSON.parse(blue.stdout) as { id: string; key: string; role: string };
    k.blue = { id: b.id, key: b.key };

    // Not an admin: no /v1/keys.
    expect(code(await call(k.red.key, "POST", "/v1/keys", { role: "admin" }))).toBe("FORBIDDEN");
    expect(code(await call(k.model.key, "GET", "/v1/keys"))).toBe("FORBIDDEN");
    const list = await call(adminKey, "GET", "/v1/keys");
    expect(list.status).toBe(200);
    expect((list.body as unknown as { id: string }[]).map((x) => x.id).sort()).toEqual(
      [adminKey.slice(5, 17), k.red.id, k.model.id, k.blue.id].sort(),
    );
    expect(JSON.stringify(list.body)).not.toContain(k.red.key);
    expect(code(await call(adminKey, "DELETE", "/v1/keys/000000000000"))).toBe("KEY_NOT_FOUND");
  });

  test("the role matrix over the real routes: a namespace key reaches only its namespace's sandboxes, a session key only its sandboxes, model-access only reads", async () => {
    const r1 = await call(k.red.key, "POST", "/v1/sandboxes", { name: "r1", disk: "32M", memory: "256M" });
    expect([r1.status, r1.body.namespace]).toEqual([201, "red"]);
    box.r1 = r1.body.id;
    const b1 = await call(k.blue.key, "POST", "/v1/sandboxes", { name: "b1", disk: "32M", memory: "256M" });
    expect([b1.status, b1.body.namespace]).toEqual([201, "blue"]);
    box.b1 = b1.body.id;
    // A namespace key cannot create in another namespace; an admin may pick one.
    expect(code(await call(k.red.key, "POST", "/v1/sandboxes", { namespace: "blue" }))).toBe("FORBIDDEN");

    expect((await call(k.red.key, "POST", "/v1/sandboxes/r1/start")).body.status).toBe("running");
    const ex = await call(
      k.red.key,
      "POST",
      `/v1/sandboxes/${box.r1}/exec`,
      { cmd: ["sh", "-c", "echo from-red"] },
      { "x-request-id": "e2e-exec-red" },
    );
    expect([ex.status, ex.body.stdout, ex.requestId]).toEqual([200, "from-red\n", "e2e-exec-red"]);

    // blue cannot see or touch red's sandbox, by id or by name.
    for (const [m, p, body] of [
      ["GET", "/v1/sandboxes/r1", undefined],
      ["GET", `/v1/sandboxes/${box.r1}`, undefined],
      ["POST", "/v1/sandboxes/r1/exec", { cmd: ["true"] }],
      ["POST", `/v1/sandboxes/${box.r1}/stop`, {}],
      ["DELETE", "/v1/sandboxes/r1", undefined],
    ] as const) {
      const r = await call(k.blue.key, m, p, body);
      expect([m, p, r.status, code(r)]).toEqual([m, p, 403, "FORBIDDEN"]);
    }
    const blueList = await call(k.blue.key, "GET", "/v1/sandboxes");
    expect((blueList.body as unknown as { id: string }[]).map((s) => s.id)).toEqual([box.b1]);

    // A session key for r1 only: exec and files there, nothing else.
    const s = await call(adminKey, "POST", "/v1/keys", { role: "session", sandboxes: [box.r1] });
    k.session = { id: s.body.id, key: s.body.key };
    expect((await call(k.session.key, "POST", "/v1/sandboxes/r1/exec", { cmd: ["echo", "sess"] })).body.stdout).toBe(
      "sess\n",
    );
    expect(code(await call(k.session.key, "POST", `/v1/sandboxes/${box.b1}/exec`, { cmd: ["true"] }))).toBe(
      "FORBIDDEN",
    );
    expect(code(await call(k.session.key, "GET", "/v1/sandboxes"))).toBe("FORBIDDEN");
    expect(code(await call(k.session.key, "POST", "/v1/sandboxes/r1/stop", {}))).toBe("FORBIDDEN");

    // model-access: reads everything, changes nothing.
    const all = await call(k.model.key, "GET", "/v1/sandboxes");
    expect((all.body as unknown as { id: string }[]).map((x) => x.id).sort()).toEqual([box.r1, box.b1].sort());
    expect((await call(k.model.key, "GET", "/v1/sandboxes/b1")).status).toBe(200);
    expect(code(await call(k.model.key, "POST", "/v1/sandboxes", {}))).toBe("FORBIDDEN");
    expect(code(await call(k.model.key, "POST", "/v1/sandboxes/r1/exec", { cmd: ["true"] }))).toBe("FORBIDDEN");
    expect(code(await call(k.model.key, "DELETE", "/v1/sandboxes/b1"))).toBe("FORBIDDEN");
    expect(code(await call(null, "GET", "/v1/sandboxes"))).toBe("AUTH_REQUIRED");
  });

  test(`the rate limit holds under 40 parallel clients: exactly ${SESSION_LIMIT} pass, the rest get 429 with Retry-After and RateLimit headers`, async () => {
    const fresh = await call(adminKey, "POST", "/v1/keys", { role: "session", sandboxes: [box.r1], name: "burst" });
    const key = fresh.body.key as string;
    const rs = await Promise.all(Array.from({ length: 40 }, () => call(key, "GET", `/v1/sandboxes/${box.r1}`)));
    const ok = rs.filter((r) => r.status === 200);
    const limited = rs.filter((r) => r.status === 429);
    expect([ok.length, limited.length]).toEqual([SESSION_LIMIT, 40 - SESSION_LIMIT]);
    for (const r of limited) {
      expect(code(r)).toBe("RATE_LIMITED");
      expect(Number(r.headers.get("retry-after"))).toBeGreaterThanOrEqual(1);
      expect(r.headers.get("ratelimit-policy")).toBe(`"session";q=${SESSION_LIMIT};w=60`);
      expect(r.headers.get("ratelimit")).toMatch(/^"session";r=0;t=\d+$/);
    }
    expect(ok.map((r) => r.headers.get("ratelimit-policy"))).toEqual(ok.map(() => `"session";q=${SESSION_LIMIT};w=60`));
  });

  test("rotation keeps the old key valid within its grace and refuses it after; revoke refuses at once (API and CLI)", async () => {
    const rot = await call(adminKey, "POST", `/v1/keys/${k.red.id}/rotate`, { grace: "1s" });
    expect([rot.status, rot.body.previous.id, rot.body.previous.status, rot.body.rotatedFrom]).toEqual([
      201,
      k.red.id,
      "rotating",
      k.red.id,
    ]);
    const successor = rot.body.key as string;
    expect((await call(k.red.key, "GET", "/v1/sandboxes")).status).toBe(200);
    expect((await call(successor, "GET", "/v1/sandboxes")).status).toBe(200);
    // Wait out the grace on the clock it names, then the old key is refused.
    await Bun.sleep(Math.max(0, Date.parse(rot.body.previous.expiresAt) - Date.now()) + 50);
    const old = await call(k.red.key, "GET", "/v1/sandboxes");
    expect([old.status, code(old)]).toEqual([401, "AUTH_KEY_EXPIRED"]);
    expect((await call(successor, "GET", "/v1/sandboxes")).status).toBe(200);
    k.red2 = { id: rot.body.id, key: successor };

    const rev = await call(adminKey, "DELETE", `/v1/keys/${k.model.id}`);
    expect([rev.status, rev.body.status]).toEqual([200, "revoked"]);
    expect(code(await call(k.model.key, "GET", "/v1/sandboxes"))).toBe("AUTH_KEY_REVOKED");
    const cliRevoke = await cli(["keys", "revoke", k.blue.id]);
    expect([cliRevoke.exitCode, cliRevoke.stdout]).toEqual([
      0,
      expect.stringMatching(new RegExp(`^revoked ${k.blue.id} at `)),
    ]);
    expect(code(await call(k.blue.key, "GET", "/v1/sandboxes"))).toBe("AUTH_KEY_REVOKED");
  });

  test.skipIf(!hasParser)(
    `/metrics needs an admin or model-access key and parses with prometheus_client, counting requests, execs and rate-limit rejections${hasParser ? "" : " (skipped: needs /usr/bin/python3 with prometheus_client; apt-get install python3-prometheus-client, as .ci/run does)"}`,
    async () => {
      expect(code(await call(k.red2?.key ?? "", "GET", "/metrics"))).toBe("FORBIDDEN");
      const scraper = await call(adminKey, "POST", "/v1/keys", { role: "model-access", name: "prom" });
      const m = await call(scraper.body.key, "GET", "/metrics");
      expect([m.status, m.headers.get("content-type")]).toEqual([200, "text/plain; version=0.0.4; charset=utf-8"]);
      const p = Bun.spawn(
        [
          PYTHON,
          "-c",
          "import json,sys\nfrom prometheus_client.parser import text_string_to_metric_families as f\nprint(json.dumps([[s.name,s.labels,s.value] for x in f(sys.stdin.read()) for s in x.samples]))",
        ],
        { stdin: new Blob([m.body as unknown as string]), stdout: "pipe", stderr: "pipe" },
      );
      const [out, err, exit] = await Promise.all([
        new Response(p.stdout).text(),
        new Response(p.stderr).text(),
        p.exited,
      ]);
      expect([exit, err]).toEqual([0, ""]);
      const samples = JSON.parse(out) as [string, Record<string, string>, number][];
      const value = (name: string, labels: Record<string, string>) =>
        samples.find(([n, l]) => n === name && Object.entries(labels).every(([a, b]) => l[a] === b))?.[2];
      expect(value("cave_rate_limit_rejections_total", { role: "session" })).toBe(40 - SESSION_LIMIT);
      expect(value("cave_http_requests_total", { route: "get", method: "GET", status: "429" })).toBe(
        40 - SESSION_LIMIT,
      );
      expect(value("cave_execs_total", { reason: "exit" })).toBe(2);
      expect(value("cave_sandboxes", { state: "running" })).toBe(1);
      expect(value("cave_sandboxes", { state: "created" })).toBe(1);
    },
  );

  test("the data API keeps its JWTs (an API key is not one) and its security events reach the audit log", async () => {
    const keys = JSON.parse((await cli(["db", "keys", "--json"])).stdout) as { service_role_key: string };
    const refused = await call(
      adminKey,
      "POST",
      "/query",
      { sql: "SELECT 1" },
      { apikey: adminKey, "x-request-id": "e2e-data-refused" },
    );
    expect(refused.status).toBe(401);
    const service = { apikey: keys.service_role_key, "x-request-id": "e2e-ddl" };
    const ddl = await call(
      keys.service_role_key,
      "POST",
      "/query",
      { sql: "CREATE TABLE notes (id int PRIMARY KEY, body text)" },
      service,
    );
    expect(ddl.status).toBe(200);
  });

  test("webhooks got every key event, signed: the HMAC checked with node:crypto, never a secret in the body", async () => {
    // issued: red, model, blue (CLI), session, burst, prom (when the metrics test ran); rotated: red (to its successor); revoked: model, blue (CLI).
    await until(
      "the webhook deliveries",
      () => deliveries.filter((d) => JSON.parse(d.body).type === "key.revoked").length >= 2,
    );
    const events = deliveries.map((d) => JSON.parse(d.body) as { type: string; data: Record<string, unknown> });
    for (const d of deliveries) {
      const m = /^t=(\d+),v1=([0-9a-f]{64})$/.exec(d.headers["x-cave-signature"] ?? "") as RegExpExecArray;
      expect(m).not.toBeNull();
      const expected = createHmac("sha256", SECRET).update(`${m[1]}.${d.body}`).digest("hex");
      expect(m[2]).toBe(expected);
      expect(Math.abs(Date.now() / 1000 - Number(m[1]))).toBeLessThan(300);
      expect(d.body).not.toMatch(/cave_[0-9a-f]{12}_[A-Za-z0-9_-]{43}/);
    }
    const issued = events.filter((e) => e.type === "key.issued").map((e) => e.data.key_id);
    expect(issued).toEqual(expect.arrayContaining([k.red.id, k.model.id, k.blue.id, k.session.id]));
    expect(issued).not.toContain(k.red2.id); // a successor is told as key.rotated
    expect(events.filter((e) => e.type === "key.rotated").map((e) => e.data)).toEqual([
      { key_id: k.red.id, successor: k.red2.id, grace_until: expect.any(String) },
    ]);
    expect(
      events
        .filter((e) => e.type === "key.revoked")
        .map((e) => e.data.key_id)
        .sort(),
    ).toEqual([k.model.id, k.blue.id].sort());
  });

  test("after the server stops: the audit log verifies with the exported public key and holds the actions in order with the responses' request ids; every request's span arrived, the exec's with its setup phases", async () => {
    proc.kill("SIGTERM");
    expect(await proc.exited).toBe(0);

    const pub = await cli(["audit", "pubkey"]);
    expect(pub.exitCode).toBe(0);
    writeFileSync(join(dir, "audit.pub"), pub.stdout);
    const verify = await cli(["audit", "verify", "--pubkey", join(dir, "audit.pub")]);
    expect([verify.exitCode, verify.stderr]).toEqual([0, ""]);

    const lines = readdirSync(join(data, "audit"))
      .filter((f) => f.endsWith(".jsonl"))
      .sort()
      .flatMap((f) =>
        readFileSync(join(data, "audit", f), "utf8")
          .trim()
          .split("\n"),
      )
      .map(
        (l) =>
          JSON.parse(l) as {
            seq: number;
            actor: string;
            action: string;
            target: string;
            outcome: string;
            reason?: string;
            request_id: string | null;
            details?: Record<string, unknown>;
          },
      );
    expect(lines.map((l) => l.seq)).toEqual(lines.map((_, i) => i + 1));
    expect([lines[0]?.action, lines[0]?.details?.event]).toEqual(["config.change", "serve.start"]);
    const byRequest = (id: string) =>
      lines.filter((l) => l.request_id === id).map((l) => [l.actor, l.action, l.target, l.outcome]);
    const adminId = adminKey.slice(5, 17);
    expect(byRequest("e2e-issue-red")).toEqual([
      [adminId, "auth.login", "keys.issue", "success"],
      [adminId, "key.issue", k.red.id, "success"],
    ]);
    expect(byRequest("e2e-exec-red")).toEqual([
      [k.red.id, "auth.login", "exec", "success"],
      [k.red.id, "sandbox.exec", box.r1, "success"],
    ]);
    // argv[0] and the count only: arguments may hold secrets.
    expect(lines.find((l) => l.request_id === "e2e-exec-red" && l.action === "sandbox.exec")?.details).toMatchObject({
      argv0: "sh",
      argc: 3,
      exit_code: 0,
    });
    expect(JSON.stringify(lines)).not.toContain("from-red");
    // The CLI's key operations, by the local user.
    expect(
      lines.filter((l) => l.actor === "local:root" && l.action.startsWith("key.")).map((l) => [l.action, l.target]),
    ).toEqual([
      ["key.issue", k.blue.id],
      ["key.revoke", k.blue.id],
    ]);
    expect(lines.filter((l) => l.action === "auth.rate_limit").map((l) => l.outcome)).toEqual(
      Array(40 - SESSION_LIMIT).fill("denied"),
    );
    expect(
      lines
        .filter((l) => l.action === "sandbox.exec" && l.outcome === "denied")
        .map((l) => [l.actor, l.target, l.reason]),
    ).toEqual([
      [k.blue.id, box.r1, "FORBIDDEN"],
      [k.session.id, box.b1, "FORBIDDEN"],
      [k.model.id, box.r1, "FORBIDDEN"],
    ]);
    expect(lines.filter((l) => l.action === "auth.failure").map((l) => l.reason)).toEqual(
      expect.arrayContaining(["AUTH_REQUIRED", "AUTH_KEY_EXPIRED", "AUTH_KEY_REVOKED"]),
    );
    expect(
      lines.filter((l) => ["key.issue", "key.rotate", "key.revoke"].includes(l.action)).map((l) => l.action),
    ).toEqual(expect.arrayContaining(["key.rotate", "key.revoke"]));
    expect(byRequest("e2e-data-refused").map((l) => l.slice(0, 2))).toEqual([["anonymous", "auth.failure"]]);
    expect(
      lines.filter((l) => l.request_id === "e2e-ddl").map((l) => [l.action, l.outcome, l.details?.statements]),
    ).toEqual([["schema.change", "success", ["CREATE"]]]);
    // Every response's request id is in the log (each request with a key, at least its auth line).
    const logged = new Set(lines.map((l) => l.request_id));
    expect(seen.filter((s) => !logged.has(s.requestId)).map((s) => s.route)).toEqual([]);

    // Spans: the server flushed its queue at shutdown.
    const server = new Map(spans.filter((s) => s.kind === 2).map((s) => [s.spanId, s]));
    const missing = seen.filter((s) => !server.has(s.traceparent.split("-")[2] as string));
    expect(missing.map((s) => s.route)).toEqual([]);
    expect(server.size).toBeGreaterThanOrEqual(seen.length);
    const execReq = seen.find((s) => s.requestId === "e2e-exec-red") as (typeof seen)[number];
    const execSpan = spans.find(
      (s) => s.name === "sandbox.exec" && s.parentSpanId === execReq.traceparent.split("-")[2],
    ) as OtlpSpan;
    expect(execSpan).toBeDefined();
    expect(spans.filter((s) => s.parentSpanId === execSpan.spanId).map((s) => s.name)).toEqual([
      "cgroup joined",
      "plan built",
      "process spawned",
      "command finished",
    ]);
    const startSpan = spans.find((s) => s.name === "sandbox.start") as OtlpSpan;
    expect(spans.filter((s) => s.parentSpanId === startSpan.spanId).map((s) => s.name)).toEqual([
      "cgroup prepared",
      "disk attached",
      "plan built",
      "init started",
    ]);
  }, 30_000);
});
