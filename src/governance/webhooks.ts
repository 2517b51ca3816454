// Webhooks: configured URLs are told of API key events (key.issued, key.rotated, key.revoked,
// key.expiring) with a signed JSON POST. The signature is Stripe's scheme: the header
// `X-Cave-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>`, so a
// receiver checks both who sent the body and when (a replayed old delivery is refused).
//
// Delivery is at least once: each (event, URL) pair is one delivery, written to
// <dataDir>/webhooks/deliveries.jsonl when queued and after every attempt, retried with
// exponential backoff and jitter on network errors, timeouts, 5xx, 408 and 429 (honouring
// Retry-After), up to a bounded number of attempts. A delivery still pending when the process
// stops is resumed by the next Webhooks.open on the same data directory. notify() returns at
// once: the request that caused the event never waits for a receiver.
import { createHmac, timingSafeEqual } from "node:crypto";
import { appendFileSync, existsSync, mkdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import type { WebhookEventType, WebhooksConfig } from "../../schema/config.ts";
import { CaveError } from "../core/errors.ts";

export { WEBHOOK_EVENTS, type WebhookEventType } from "../../schema/config.ts";

export const SIGNATURE_HEADER = "X-Cave-Signature";
export const EVENT_HEADER = "X-Cave-Event";
export const DELIVERY_HEADER = "X-Cave-Delivery";
/** Seconds a signature's timestamp may be away from the receiver's clock (either way). */
export const DEFAULT_TOLERANCE_S = 300;

// --- Signing and verifying ---

/** The hex HMAC-SHA256 of "<t>.<body>" under `secret`. */
export function computeSignature(secret: string, timestamp: number, body: string | Uint8Array): string {
  // The body's exact bytes: a receiver that decodes and re-encodes it may change them.
  return createHmac("sha256", secret).update(`${timestamp}.`).update(body).digest("hex");
}

/** The X-Cave-Signature value for `body` signed at `timestamp` (Unix seconds). */
export function signatureHeader(secret: string, timestamp: number, body: string): string {
  return `t=${timestamp},v1=${computeSignature(secret, timestamp, body)}`;
}

export type VerifyFailure = "malformed_header" | "timestamp_outside_tolerance" | "bad_signature";
export type VerifyResult =
  | { ok: true; timestamp: number }
  | { ok: false; reason: VerifyFailure; message: string; timestamp?: number };

/** Splits "t=…,v1=…[,v1=…]"; a leading "X-Cave-Signature:" (a whole header line) is allowed. */
export function parseSignatureHeader(header: string): { timestamp: number; signatures: string[] } | string {
  let value = header.trim();
  const colon = /^x-cave-signature\s*:/i.exec(value);
  if (colon) value = value.slice(colon[0].length).trim();
  if (value === "") return "the signature header is empty";
  let timestamp: number | undefined;
  const signatures: string[] = [];
  for (const part of value.split(",")) {
    const eq = part.indexOf("=");
    if (eq < 0) return `the signature header has a part without "=": ${JSON.stringify(part.trim())}`;
    const k = part.slice(0, eq).trim();
    const val = part.slice(eq + 1).trim();
    if (k === "t") {
      if (!/^\d{1,12}$/.test(val)) return `the timestamp t=${JSON.stringify(val)} is not a number of seconds`;
      if (timestamp !== undefined) return "the signature header has more than one t=";
      timestamp = Number(val);
    } else if (k === "v1") {
      if (!/^[0-9a-f]{64}$/i.test(val)) return "a v1= signature is not 64 hex digits (HMAC-SHA256)";
      signatures.push(val.toLowerCase());
    }
    // Other schemes (v0, a future v2) are ignored, as Stripe's receivers do.
  }
  if (timestamp === undefined) return "the signature header has no t= timestamp";
  if (signatures.length === 0) return "the signature header has no v1= signature";
  return { timestamp, signatures };
}

/**
 * Checks an X-Cave-Signature header against the raw body (the exact bytes received, before
 * any JSON parsing). `now` is Unix seconds; a timestamp more than `tolerance` seconds away
 * from it is refused even with a good signature: that is what stops a replay.
 */
export function verifySignature(
  secret: string,
  header: string,
  body: string | Uint8Array,
  now: number = Math.floor(Date.now() / 1000),
  tolerance: number = DEFAULT_TOLERANCE_S,
): VerifyResult {
  const parsed = parseSignatureHeader(header);
  if (typeof parsed === "string") return { ok: false, reason: "malformed_header", message: parsed };
  const expected = Buffer.from(computeSignature(secret, parsed.timestamp, body), "hex");
  // Constant time, so the comparison does not tell an attacker how many bytes matched.
  const match = parsed.signatures.some((s) => timingSafeEqual(Buffer.from(s, "hex"), expected));
  if (!match) {
    return {
      ok: false,
      reason: "bad_signature",
      message:
        "the signature does not match the body and secret (a changed body, a wrong secret, or a body altered in transit)",
      timestamp: parsed.timestamp,
    };
  }
  const skew = now - parsed.timestamp;
  if (Math.abs(skew) > tolerance) {
    return {
      ok: false,
      reason: "timestamp_outside_tolerance",
      message: `the timestamp is ${Math.abs(skew)} s ${skew > 0 ? "old" : "in the future"}, over the ${tolerance} s tolerance: a replay is refused`,
      timestamp: parsed.timestamp,
    };
  }
  return { ok: true, timestamp: parsed.timestamp };
}

// --- Delivery ---

export interface WebhookEvent {
  id: string;
  type: WebhookEventType;
  created_at: string;
  data: Record<string, unknown>;
}

/** One line of deliveries.jsonl. */
export type DeliveryLogEntry =
  | {
      kind: "queued";
      at: string;
      delivery: string;
      event_id: string;
      type: WebhookEventType;
      url: string;
      /** The exact body sent on every attempt (re-signed each time with a fresh timestamp). */
      body: string;
    }
  | {
      kind: "attempt";
      at: string;
      delivery: string;
      attempt: number;
      /** The receiver's HTTP status; null when no answer came (network error, timeout). */
      status: number | null;
      duration_ms: number;
      error: string | null;
      /** delivered: 2xx. retry: another attempt at next_at. failed: given up. */
      outcome: "delivered" | "retry" | "failed";
      next_at?: string;
    };

export interface WebhooksOptions {
  dataDir: string;
  /** cave.yaml's `webhooks:` list. */
  config: WebhooksConfig | undefined;
  fetch?: typeof fetch;
  /** Attempts per delivery, the first included (default 8). */
  maxAttempts?: number;
  /** First retry's delay; it doubles each time (default 1 s). */
  baseDelayMs?: number;
  /** Longest delay between attempts, Retry-After included (default 1 h). */
  maxDelayMs?: number;
  /** Per attempt (default 10 s). */
  timeoutMs?: number;
  warn?: (message: string) => void;
  /** For tests: the jitter's randomness, 0..1. */
  random?: () => number;
}

interface Pending {
  delivery: string;
  event: { id: string; type: WebhookEventType };
  url: string;
  body: string;
  /** Attempts made so far. */
  attempts: number;
  timer: ReturnType<typeof setTimeout> | null;
}

const newId = (prefix: string) => `${prefix}_${crypto.randomUUID().replace(/-/g, "")}`;

/** Milliseconds a Retry-After header asks for (seconds or an HTTP date), or undefined. */
export function retryAfterMs(value: string | null, now = Date.now()): number | undefined {
  if (!value) return undefined;
  if (/^\s*\d+\s*$/.test(value)) return Number(value) * 1000;
  const date = Date.parse(value);
  return Number.isNaN(date) ? undefined : Math.max(0, date - now);
}

/** Whether an answer (or its absence: null) is worth another attempt. */
export function retryable(status: number | null): boolean {
  return status === null || status >= 500 || status === 408 || status === 429;
}

export class Webhooks {
  readonly logPath: string;
  private readonly targets: WebhooksConfig;
  private readonly fetch: typeof fetch;
  private readonly maxAttempts: number;
  private readonly baseDelayMs: number;
  private readonly maxDelayMs: number;
  private readonly timeoutMs: number;
  private readonly warn: (m: string) => void;
  private readonly random: () => number;
  private readonly pending = new Map<string, Pending>();
  private readonly inflight = new Set<Promise<void>>();
  private idleWaiters: (() => void)[] = [];
  private closed = false;
  private logFailed = false;

  /** Opens the delivery log of `dataDir` and resumes the deliveries a previous process left pending. */
  static async open(opts: WebhooksOptions): Promise<Webhooks> {
    const w = new Webhooks(opts);
    w.resume();
    return w;
  }

  private constructor(opts: WebhooksOptions) {
    const dir = join(opts.dataDir, "webhooks");
    try {
      mkdirSync(dir, { recursive: true, mode: 0o700 });
    } catch (e) {
      throw new CaveError("WEBHOOK_LOG", `cannot create the webhook directory ${dir}: ${(e as Error).message}`, {
        cause: e,
      });
    }
    this.logPath = join(dir, "deliveries.jsonl");
    this.targets = opts.config ?? [];
    this.fetch = opts.fetch ?? fetch;
    this.maxAttempts = Math.max(1, opts.maxAttempts ?? 8);
    this.baseDelayMs = opts.baseDelayMs ?? 1000;
    this.maxDelayMs = opts.maxDelayMs ?? 3_600_000;
    this.timeoutMs = opts.timeoutMs ?? 10_000;
    this.warn = opts.warn ?? (() => {});
    this.random = opts.random ?? Math.random;
  }

  /** Reads every line of the delivery log (oldest first); a torn last line (a crash mid-write) is skipped. */
  readLog(): DeliveryLogEntry[] {
    if (!existsSync(this.logPath)) return [];
    const out: DeliveryLogEntry[] = [];
    for (const line of readFileSync(this.logPath, "utf8").split("\n")) {
      if (!line.trim()) continue;
      try {
        out.push(JSON.parse(line) as DeliveryLogEntry);
      } catch {
        // a line cut short by a crash: its delivery resumes from the lines before it
      }
    }
    return out;
  }

  private log(entry: DeliveryLogEntry): void {
    try {
      // One write(2) of one line with O_APPEND: lines of two processes never interleave.
      appendFileSync(this.logPath, `${JSON.stringify(entry)}\n`, { mode: 0o600 });
    } catch (e) {
      if (!this.logFailed)
        this.warn(`webhooks: cannot write the delivery log ${this.logPath}: ${(e as Error).message}`);
      this.logFailed = true;
    }
  }

  private resume(): void {
    const open = new Map<
      string,
      { queued: Extract<DeliveryLogEntry, { kind: "queued" }>; attempts: number; nextAt?: string }
    >();
    for (const e of this.readLog()) {
      if (e.kind === "queued") open.set(e.delivery, { queued: e, attempts: 0 });
      else {
        const d = open.get(e.delivery);
        if (!d) continue;
        if (e.outcome === "retry") {
          d.attempts = Math.max(d.attempts, e.attempt);
          if (e.next_at) d.nextAt = e.next_at;
          else delete d.nextAt;
        } else open.delete(e.delivery);
      }
    }
    for (const { queued, attempts, nextAt } of open.values()) {
      if (!this.targets.some((t) => t.url === queued.url)) {
        this.log({
          kind: "attempt",
          at: new Date().toISOString(),
          delivery: queued.delivery,
          attempt: attempts,
          status: null,
          duration_ms: 0,
          error: "the URL is no longer in the webhooks configuration",
          outcome: "failed",
        });
        continue;
      }
      const p: Pending = {
        delivery: queued.delivery,
        event: { id: queued.event_id, type: queued.type },
        url: queued.url,
        body: queued.body,
        attempts,
        timer: null,
      };
      this.pending.set(p.delivery, p);
      this.schedule(p, nextAt ? Math.max(0, Date.parse(nextAt) - Date.now()) : 0);
    }
  }

  /**
   * Tells every URL subscribed to `type` of an event; returns at once with the event (the
   * POSTs happen in the background). `data` must not hold secrets: it is kept in the delivery
   * log and sent over the network.
   */
  notify(type: WebhookEventType, data: Record<string, unknown>): WebhookEvent {
    const event: WebhookEvent = { id: newId("evt"), type, created_at: new Date().toISOString(), data };
    if (this.closed) return event;
    const body = JSON.stringify(event);
    for (const t of this.targets) {
      if (t.events && !t.events.includes(type)) continue;
      const p: Pending = {
        delivery: newId("dlv"),
        event: { id: event.id, type },
        url: t.url,
        body,
        attempts: 0,
        timer: null,
      };
      // Logged before anything is sent, so a crash right after notify still delivers it later.
      this.log({
        kind: "queued",
        at: event.created_at,
        delivery: p.delivery,
        event_id: event.id,
        type,
        url: t.url,
        body,
      });
      this.pending.set(p.delivery, p);
      this.schedule(p, 0);
    }
    return event;
  }

  /**
   * Tells of keys that expire within `withinMs` of `now` (key.expiring), once per key and
   * expiry time: the delivery log remembers what was told, across restarts. Pass what
   * KeyStore.list() returns; revoked and already expired keys are skipped. Call it from a
   * timer (hourly, say) in cave serve.
   */
  notifyExpiring(
    keys: readonly { id: string; status?: string; expiresAt: string | null }[],
    withinMs: number = 7 * 86_400_000,
    now: number = Date.now(),
  ): WebhookEvent[] {
    const told = this.expiringTold ?? this.loadExpiringTold();
    const sent: WebhookEvent[] = [];
    for (const k of keys) {
      if (!k.expiresAt || k.status === "revoked" || k.status === "expired") continue;
      const at = Date.parse(k.expiresAt);
      if (Number.isNaN(at) || at <= now || at - now > withinMs) continue;
      const mark = `${k.id}@${k.expiresAt}`;
      if (told.has(mark)) continue;
      told.add(mark);
      sent.push(this.notify("key.expiring", { key_id: k.id, expires_at: k.expiresAt }));
    }
    return sent;
  }

  private expiringTold: Set<string> | null = null;

  private loadExpiringTold(): Set<string> {
    const told = new Set<string>();
    for (const e of this.readLog()) {
      if (e.kind !== "queued" || e.type !== "key.expiring") continue;
      try {
        const d = (JSON.parse(e.body) as WebhookEvent).data;
        told.add(`${d.key_id}@${d.expires_at}`);
      } catch {
        // a body that is not an event: nothing to remember
      }
    }
    this.expiringTold = told;
    return told;
  }

  private schedule(p: Pending, delayMs: number): void {
    p.timer = setTimeout(() => {
      p.timer = null;
      const run = this.attempt(p).finally(() => {
        this.inflight.delete(run);
        this.checkIdle();
      });
      this.inflight.add(run);
    }, delayMs);
    // A delivery waiting for its retry must not keep a CLI process alive; it stays in the
    // log as pending, and the next Webhooks.open (cave serve) resumes it.
    p.timer.unref?.();
  }

  /** Full exponential backoff with "equal jitter": half the delay fixed, half random. */
  backoffMs(attempt: number): number {
    const exp = Math.min(this.maxDelayMs, this.baseDelayMs * 2 ** (attempt - 1));
    return Math.round(exp / 2 + (this.random() * exp) / 2);
  }

  private async attempt(p: Pending): Promise<void> {
    if (this.closed) return;
    const target = this.targets.find((t) => t.url === p.url);
    p.attempts += 1;
    const t0 = performance.now();
    let status: number | null = null;
    let error: string | null = null;
    let retryAfter: number | undefined;
    if (!target) {
      error = "the URL is no longer in the webhooks configuration";
    } else {
      const timestamp = Math.floor(Date.now() / 1000);
      try {
        const res = await this.fetch(p.url, {
          method: "POST",
          headers: {
            "content-type": "application/json",
            "user-agent": "cave-webhooks/1",
            [SIGNATURE_HEADER]: signatureHeader(target.secret, timestamp, p.body),
            [EVENT_HEADER]: p.event.type,
            [DELIVERY_HEADER]: p.delivery,
          },
          body: p.body,
          redirect: "manual",
          signal: AbortSignal.timeout(this.timeoutMs),
        });
        status = res.status;
        retryAfter = retryAfterMs(res.headers.get("retry-after"));
        await res.arrayBuffer().catch(() => undefined);
        if (status < 200 || status >= 300) error = `the receiver answered ${status}`;
      } catch (e) {
        const name = (e as Error).name;
        error =
          name === "TimeoutError" || name === "AbortError"
            ? `no answer within ${this.timeoutMs} ms`
            : (e as Error).message;
      }
    }
    const duration_ms = Math.round((performance.now() - t0) * 100) / 100;
    const at = new Date().toISOString();
    const base = {
      kind: "attempt" as const,
      at,
      delivery: p.delivery,
      attempt: p.attempts,
      status,
      duration_ms,
      error,
    };
    if (status !== null && status >= 200 && status < 300) {
      this.log({ ...base, error: null, outcome: "delivered" });
      this.pending.delete(p.delivery);
      return;
    }
    if (!target || !retryable(status) || p.attempts >= this.maxAttempts || this.closed) {
      if (this.closed && target && retryable(status) && p.attempts < this.maxAttempts) {
        // Shutting down: leave it pending for the next process.
        this.log({ ...base, outcome: "retry", next_at: at });
        this.pending.delete(p.delivery);
        return;
      }
      this.log({ ...base, outcome: "failed" });
      this.pending.delete(p.delivery);
      this.warn(
        `webhooks: gave up on ${p.url} for ${p.event.type} (${p.delivery}) after ${p.attempts} attempt(s): ${error}`,
      );
      return;
    }
    const delay = Math.min(this.maxDelayMs, Math.max(this.backoffMs(p.attempts), retryAfter ?? 0));
    this.log({ ...base, outcome: "retry", next_at: new Date(Date.now() + delay).toISOString() });
    this.schedule(p, delay);
  }

  private checkIdle(): void {
    if (this.inflight.size > 0) return;
    if ([...this.pending.values()].some((p) => p.timer !== null)) return;
    const waiters = this.idleWaiters;
    this.idleWaiters = [];
    for (const w of waiters) w();
  }

  /** Deliveries not yet delivered or given up. */
  get pendingCount(): number {
    return this.pending.size;
  }

  /** Resolves when every delivery is delivered or given up (for tests and for a CLI that wants to wait). */
  idle(): Promise<void> {
    if (this.pending.size === 0 && this.inflight.size === 0) return Promise.resolve();
    return new Promise((resolve) => {
      this.idleWaiters.push(resolve);
      if (this.pending.size === 0 && this.inflight.size === 0) this.checkIdle();
    });
  }

  /**
   * Stops retrying: attempts under way finish (and are logged), waiting ones stay pending in
   * the log for the next Webhooks.open. Never waits for a slow receiver longer than the timeout.
   */
  async close(): Promise<void> {
    this.closed = true;
    for (const p of this.pending.values()) {
      if (p.timer) clearTimeout(p.timer);
      p.timer = null;
    }
    await Promise.all([...this.inflight]);
    this.pending.clear();
    const waiters = this.idleWaiters;
    this.idleWaiters = [];
    for (const w of waiters) w();
  }
}
