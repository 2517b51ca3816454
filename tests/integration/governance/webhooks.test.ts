// Webhook deliveries to a real HTTP receiver on loopback (Bun.serve, port 0): the body and
// headers that arrive, the signature checked with openssl and node:crypto (not the module's
// code), retries with backoff on 5xx/timeouts/refused connections, Retry-After, no retry on
// 4xx, the delivery log, and a delivery left pending by one process finished by the next.
import { afterEach, describe, expect, test } from "bun:test";
import { createHmac } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type DeliveryLogEntry, Webhooks } from "../../../src/governance/webhooks.ts";

const SECRET = "whsec-0123456789abcdef";

interface Arrival {
  at: number;
  headers: Record<string, string>;
  body: string;
}

/** A receiver that answers each request with the next of `answers` (the last one repeats). */
type Answer = { status: number; headers?: Record<string, string> } | "hang";
const OK: Answer = { status: 200 };

function receiver(answers: Answer[]) {
  const arrivals: Arrival[] = [];
  const waiters: { n: number; resolve: () => void }[] = [];
  const server = Bun.serve({
    port: 0,
    hostname: "127.0.0.1",
    async fetch(req) {
      arrivals.push({ at: performance.now(), headers: Object.fromEntries(req.headers), body: await req.text() });
      for (const w of waiters.filter((w) => arrivals.length >= w.n)) w.resolve();
      const a = answers[Math.min(arrivals.length - 1, answers.length - 1)] as Answer;
      if (a === "hang") return new Promise<Response>(() => {});
      return new Response(a.status === 200 ? "ok" : "no", { status: a.status, headers: a.headers ?? {} });
    },
  });
  return {
    url: `http://127.0.0.1:${server.port}/hook`,
    arrivals,
    /** Resolves once `n` requests have arrived. */
    received: (n: number) =>
      arrivals.length >= n ? Promise.resolve() : new Promise<void>((resolve) => waiters.push({ n, resolve })),
    stop: () => server.stop(true),
  };
}

const dirs: string[] = [];
const stops: (() => unknown)[] = [];
afterEach(async () => {
  for (const s of stops.splice(0)) await s();
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});
function dataDir(): string {
  const d = mkdtempSync(join(tmpdir(), "cave-webhooks-"));
  dirs.push(d);
  return d;
}

async function openssl(secret: string, message: string): Promise<string> {
  const p = Bun.spawn(["openssl", "dgst", "-sha256", "-hmac", secret], {
    stdin: new Blob([message]),
    stdout: "pipe",
    stderr: "pipe",
  });
  const [out, code] = await Promise.all([new Response(p.stdout).text(), p.exited]);
  expect(code).toBe(0);
  // "SHA2-256(stdin)= <hex>" or "(stdin)= <hex>" depending on the OpenSSL version
  return out.trim().split("= ").pop() as string;
}

function attempts(log: DeliveryLogEntry[]) {
  return log
    .filter((e) => e.kind === "attempt")
    .map((e) => (e.kind === "attempt" ? { attempt: e.attempt, status: e.status, outcome: e.outcome } : null));
}

describe("webhook deliveries", () => {
  test("a delivery carries the event as JSON with a signature openssl and node:crypto agree with", async () => {
    const r = receiver([OK]);
    stops.push(r.stop);
    const w = await Webhooks.open({ dataDir: dataDir(), config: [{ url: r.url, secret: SECRET }] });
    stops.push(() => w.close());
    const event = w.notify("key.issued", { key_id: "ck_live_abc123", role: "session", name: "ci" });
    await w.idle();

    expect(r.arrivals.length).toBe(1);
    const got = r.arrivals[0] as Arrival;
    expect(JSON.parse(got.body)).toEqual({
      id: event.id,
      type: "key.issued",
      created_at: event.created_at,
      data: { key_id: "ck_live_abc123", role: "session", name: "ci" },
    });
    expect(event.id).toMatch(/^evt_[0-9a-f]{32}$/);
    expect(got.headers["content-type"]).toBe("application/json");
    expect(got.headers["x-cave-event"]).toBe("key.issued");
    expect(got.headers["x-cave-delivery"]).toMatch(/^dlv_[0-9a-f]{32}$/);

    const m = /^t=(\d+),v1=([0-9a-f]{64})$/.exec(got.headers["x-cave-signature"] ?? "");
    expect(m).not.toBeNull();
    const [, t, v1] = m as RegExpExecArray;
    expect(Math.abs(Number(t) - Date.now() / 1000)).toBeLessThan(60);
    expect(await openssl(SECRET, `${t}.${got.body}`)).toBe(v1 as string);
    expect(createHmac("sha256", SECRET).update(`${t}.${got.body}`).digest("hex")).toBe(v1 as string);
  });

  test("5xx answers are retried with growing delays until one succeeds, and each attempt is logged", async () => {
    const r = receiver([{ status: 503 }, { status: 500 }, { status: 200 }]);
    stops.push(r.stop);
    const dir = dataDir();
    // random 0 → each delay is exactly half the exponential step: 100 ms, then 200 ms.
    const w = await Webhooks.open({
      dataDir: dir,
      config: [{ url: r.url, secret: SECRET }],
      baseDelayMs: 200,
      random: () => 0,
    });
    stops.push(() => w.close());
    w.notify("key.revoked", { key_id: "ck_1" });
    await w.idle();

    expect(r.arrivals.length).toBe(3);
    const ids = new Set(r.arrivals.map((a) => a.headers["x-cave-delivery"]));
    expect(ids.size).toBe(1);
    expect(new Set(r.arrivals.map((a) => a.body)).size).toBe(1);
    const [a1, a2, a3] = r.arrivals as [Arrival, Arrival, Arrival];
    expect(a2.at - a1.at).toBeGreaterThanOrEqual(100 - 5);
    expect(a3.at - a2.at).toBeGreaterThanOrEqual(200 - 5);

    const log = w.readLog();
    expect(log[0]).toMatchObject({
      kind: "queued",
      type: "key.revoked",
      url: r.url,
      body: a1.body,
      delivery: [...ids][0],
    });
    expect(attempts(log)).toEqual([
      { attempt: 1, status: 503, outcome: "retry" },
      { attempt: 2, status: 500, outcome: "retry" },
      { attempt: 3, status: 200, outcome: "delivered" },
    ]);
    for (const e of log) {
      if (e.kind !== "attempt") continue;
      expect(typeof e.duration_ms).toBe("number");
      expect(e.error).toBe(e.outcome === "delivered" ? null : `the receiver answered ${e.status}`);
      if (e.outcome === "retry") expect(Date.parse(e.next_at as string)).toBeGreaterThan(Date.parse(e.at));
    }
  });

  test("a 4xx is not retried; 408 and 429 are, and Retry-After is honoured", async () => {
    const refusing = receiver([{ status: 400 }]);
    const busy = receiver([{ status: 408 }, { status: 429, headers: { "retry-after": "1" } }, OK]);
    stops.push(refusing.stop, busy.stop);
    const w = await Webhooks.open({
      dataDir: dataDir(),
      config: [
        { url: refusing.url, secret: SECRET },
        { url: busy.url, secret: SECRET },
      ],
      baseDelayMs: 10,
      random: () => 0,
    });
    stops.push(() => w.close());
    w.notify("key.rotated", { key_id: "ck_2", successor: "ck_3" });
    await w.idle();
    expect(refusing.arrivals.length).toBe(1);
    expect(busy.arrivals.length).toBe(3);
    const [, b2, b3] = busy.arrivals as [Arrival, Arrival, Arrival];
    // The backoff alone would be 10 ms; the receiver asked for a second.
    expect(b3.at - b2.at).toBeGreaterThanOrEqual(1000 - 5);
    const byUrl = (url: string) => {
      const d = w.readLog().find((e) => e.kind === "queued" && e.url === url)?.delivery;
      return attempts(w.readLog().filter((e) => e.delivery === d));
    };
    expect(byUrl(refusing.url)).toEqual([{ attempt: 1, status: 400, outcome: "failed" }]);
    expect(byUrl(busy.url)).toEqual([
      { attempt: 1, status: 408, outcome: "retry" },
      { attempt: 2, status: 429, outcome: "retry" },
      { attempt: 3, status: 200, outcome: "delivered" },
    ]);
  });

  test("a receiver that never answers times out, a closed port is a network error; both stop at the attempt limit", async () => {
    const hanging = receiver(["hang"]);
    stops.push(hanging.stop);
    // A port that was just free: nothing listens there.
    const gone = receiver([OK]);
    const goneUrl = gone.url;
    gone.stop();
    const warnings: string[] = [];
    const w = await Webhooks.open({
      dataDir: dataDir(),
      config: [
        { url: hanging.url, secret: SECRET },
        { url: goneUrl, secret: SECRET },
      ],
      baseDelayMs: 10,
      timeoutMs: 200,
      maxAttempts: 3,
      warn: (m) => warnings.push(m),
    });
    stops.push(() => w.close());
    w.notify("key.expiring", { key_id: "ck_4", expires_at: "2030-01-01T00:00:00Z" });
    await w.idle();
    expect(hanging.arrivals.length).toBe(3);
    const log = w.readLog();
    const failed = log.filter((e) => e.kind === "attempt" && e.outcome === "failed");
    expect(failed.length).toBe(2);
    for (const e of log) {
      if (e.kind !== "attempt") continue;
      expect(e.status).toBeNull();
      const url = log.find((q) => q.kind === "queued" && q.delivery === e.delivery && q.url === hanging.url);
      if (url) expect(e.error).toBe("no answer within 200 ms");
      else expect(e.error).toMatch(/./);
    }
    expect(
      attempts(log)
        .map((a) => a?.attempt)
        .sort(),
    ).toEqual([1, 1, 2, 2, 3, 3]);
    expect(warnings.length).toBe(2);
    expect(warnings.every((m) => m.startsWith("webhooks: gave up on ") && m.includes("after 3 attempt(s)"))).toBe(true);
  });

  test("a URL is told only of the events it subscribed to", async () => {
    const all = receiver([OK]);
    const some = receiver([OK]);
    stops.push(all.stop, some.stop);
    const w = await Webhooks.open({
      dataDir: dataDir(),
      config: [
        { url: all.url, secret: SECRET },
        { url: some.url, secret: SECRET, events: ["key.revoked"] },
      ],
    });
    stops.push(() => w.close());
    w.notify("key.issued", { key_id: "a" });
    w.notify("key.revoked", { key_id: "a" });
    await w.idle();
    expect(all.arrivals.map((a) => a.headers["x-cave-event"]).sort()).toEqual(["key.issued", "key.revoked"]);
    expect(some.arrivals.map((a) => a.headers["x-cave-event"])).toEqual(["key.revoked"]);
  });

  test("a delivery still pending when its process stops is resumed by the next one, same id and body", async () => {
    const r = receiver([{ status: 503 }, OK]);
    stops.push(r.stop);
    const dir = dataDir();
    const config = [{ url: r.url, secret: SECRET }];
    const first = await Webhooks.open({ dataDir: dir, config, baseDelayMs: 60_000, random: () => 0 });
    first.notify("key.revoked", { key_id: "ck_9" });
    await r.received(1);
    // The first attempt failed and the retry waits a minute: stop this "process" now.
    await first.close();
    expect(attempts(first.readLog())).toEqual([{ attempt: 1, status: 503, outcome: "retry" }]);

    // The next process is started after the planned retry time (next_at is moved back to now).
    const log = first.readLog().map((e) => (e.kind === "attempt" ? { ...e, next_at: new Date().toISOString() } : e));
    await Bun.write(first.logPath, log.map((e) => `${JSON.stringify(e)}\n`).join(""));
    const second = await Webhooks.open({ dataDir: dir, config, baseDelayMs: 60_000 });
    stops.push(() => second.close());
    expect(second.pendingCount).toBe(1);
    await second.idle();
    expect(r.arrivals.length).toBe(2);
    const [a1, a2] = r.arrivals as [Arrival, Arrival];
    expect(a2.headers["x-cave-delivery"]).toBe(a1.headers["x-cave-delivery"] as string);
    expect(a2.body).toBe(a1.body);
    expect(attempts(second.readLog())).toEqual([
      { attempt: 1, status: 503, outcome: "retry" },
      { attempt: 2, status: 200, outcome: "delivered" },
    ]);
    // A third process finds nothing left to do.
    const third = await Webhooks.open({ dataDir: dir, config });
    stops.push(() => third.close());
    expect(third.pendingCount).toBe(0);
  });

  test("notify returns before the receiver has answered", async () => {
    const r = receiver(["hang"]);
    stops.push(r.stop);
    const w = await Webhooks.open({
      dataDir: dataDir(),
      config: [{ url: r.url, secret: SECRET }],
      timeoutMs: 300,
      maxAttempts: 1,
    });
    stops.push(() => w.close());
    const event = w.notify("key.issued", { key_id: "x" });
    expect(event.type).toBe("key.issued");
    expect(r.arrivals.length).toBe(0);
    expect(w.pendingCount).toBe(1);
    await w.idle();
    expect(w.pendingCount).toBe(0);
  });
  test("key.expiring is sent once per key and expiry, also across a restart", async () => {
    const r = receiver([OK]);
    stops.push(r.stop);
    const dir = dataDir();
    const config = [{ url: r.url, secret: SECRET }];
    const now = Date.parse("2030-01-01T00:00:00Z");
    const keys = [
      { id: "ck_soon", status: "active", expiresAt: "2030-01-03T00:00:00.000Z" },
      { id: "ck_later", status: "active", expiresAt: "2030-03-01T00:00:00.000Z" },
      { id: "ck_never", status: "active", expiresAt: null },
      { id: "ck_revoked", status: "revoked", expiresAt: "2030-01-02T00:00:00.000Z" },
      { id: "ck_past", status: "expired", expiresAt: "2029-12-31T00:00:00.000Z" },
    ];
    const first = await Webhooks.open({ dataDir: dir, config });
    stops.push(() => first.close());
    expect(first.notifyExpiring(keys, 7 * 86_400_000, now).map((e) => e.data)).toEqual([
      { key_id: "ck_soon", expires_at: "2030-01-03T00:00:00.000Z" },
    ]);
    expect(first.notifyExpiring(keys, 7 * 86_400_000, now)).toEqual([]);
    await first.idle();
    const second = await Webhooks.open({ dataDir: dir, config });
    stops.push(() => second.close());
    expect(second.notifyExpiring(keys, 7 * 86_400_000, now)).toEqual([]);
    // A key whose expiry moved is told again.
    const moved = [{ id: "ck_soon", status: "active", expiresAt: "2030-01-04T00:00:00.000Z" }];
    expect(second.notifyExpiring(moved, 7 * 86_400_000, now).length).toBe(1);
    await second.idle();
    expect(r.arrivals.map((a) => JSON.parse(a.body).data.key_id)).toEqual(["ck_soon", "ck_soon"]);
  });
});
