// Per-key rate limits, by role (admin 1000/min, namespace 100/min, session 50/min,
// model-access 200/min; cave.yaml limits.rate overrides them).
//
// What the HTTP layer calls, once per authenticated request, after keys.authenticate():
//   const limiter = new RateLimiter({ limits: config.limits?.rate });
//   const d = limiter.take(principal);       // → RateDecision { allowed, headers, … }
//   if (!d.allowed) → 429 with d.headers (Retry-After, RateLimit, RateLimit-Policy): rateLimited(d)
//   else → the handler's answer, with d.headers added.
//
// Algorithm: a sliding-window log, kept as a ring of the times of the key's last L accepted
// requests. A request is accepted when fewer than L were accepted in the last 60 s, i.e. when
// the ring is not full or its oldest entry is 60 s old: O(1) per request, 8 bytes × L per active
// key, and exact: never more than L in ANY 60-second window. A token bucket or GCRA keeps one
// number per key but lets a client that waited a full window send L at once and then L more as
// tokens refill — up to 2L in one minute — which is not "L per minute"; a fixed window allows 2L
// across its boundary. take() is synchronous, and Bun runs every request's JavaScript on one
// thread, so concurrent requests cannot both take the last place (one process: two `cave serve`
// on one data directory each count their own).
//
// Headers: draft-ietf-httpapi-ratelimit-headers-09 (March 2025; the current one at the time of
// writing, also what -10 keeps): `RateLimit-Policy: "<role>";q=<limit>;w=60` and
// `RateLimit: "<role>";r=<remaining>;t=<seconds until a unit frees>`, structured-field lists
// named by the policy; the older RateLimit-Limit/-Remaining/-Reset trio of drafts ≤ 06 is not sent.
// A refusal adds `Retry-After: <seconds>` (RFC 9110 §10.2.3).
import type { Role } from "../../schema/governance.ts";
import { CaveError } from "../core/errors.ts";

export const DEFAULT_RATE_LIMITS: Readonly<Record<Role, number>> = {
  admin: 1000,
  namespace: 100,
  session: 50,
  "model-access": 200,
};
export const RATE_WINDOW_MS = 60_000;

export interface RateDecision {
  allowed: boolean;
  /** The policy: this many requests per window. */
  limit: number;
  /** Requests left in the window after this one. */
  remaining: number;
  /** Seconds until one more request is allowed (0 when some are left and none is in the window). */
  resetSeconds: number;
  /** Set when refused: seconds to wait (Retry-After). */
  retryAfterSeconds: number | null;
  /** The response headers to send, on success and on refusal alike. */
  headers: Record<string, string>;
}

interface Window {
  /** Times of the last accepted requests, oldest at `head`; `count` of them are set. */
  times: Float64Array;
  head: number;
  count: number;
  last: number;
}

export interface RateLimiterOptions {
  /** Requests per window, by role (missing roles keep DEFAULT_RATE_LIMITS). */
  limits?: Partial<Record<Role, number>> | undefined;
  windowMs?: number;
  /** A monotonic clock in milliseconds (default performance.now: wall-clock jumps do not reset limits). */
  now?: () => number;
}

export class RateLimiter {
  readonly limits: Readonly<Record<Role, number>>;
  readonly windowMs: number;
  private readonly now: () => number;
  private readonly windows = new Map<string, Window>();
  private takes = 0;

  constructor(opts: RateLimiterOptions = {}) {
    const limits = { ...DEFAULT_RATE_LIMITS };
    for (const [role, n] of Object.entries(opts.limits ?? {}) as [Role, number | undefined][]) {
      if (n === undefined) continue;
      if (!(role in DEFAULT_RATE_LIMITS))
        throw new CaveError("CONFIG_INVALID", `limits.rate: unknown role ${JSON.stringify(role)}`, {
          hint: `use ${Object.keys(DEFAULT_RATE_LIMITS).join(", ")}`,
        });
      if (!Number.isSafeInteger(n) || n < 1)
        throw new CaveError("CONFIG_INVALID", `limits.rate.${role}: ${n} is not a whole number of 1 or more`, {
          hint: "give requests per minute, e.g. 100",
        });
      limits[role] = n;
    }
    this.limits = limits;
    this.windowMs = opts.windowMs ?? RATE_WINDOW_MS;
    this.now = opts.now ?? (() => performance.now());
  }

  /** Counts one request of the key, or refuses it; never waits. */
  take(principal: { keyId: string; role: Role }): RateDecision {
    return this.takeKey(principal.keyId, this.limits[principal.role], principal.role);
  }

  /**
   * The same for any key with its own limit per window, named `policy` in the headers (the auth
   * service limits sign-ins per client address with it).
   */
  takeKey(key: string, limit: number, policyName: string): RateDecision {
    const t = this.now();
    if (++this.takes % 1024 === 0) this.sweep(t);
    let w = this.windows.get(key);
    if (!w || w.times.length !== limit) {
      w = { times: new Float64Array(limit), head: 0, count: 0, last: t };
      this.windows.set(key, w);
    }
    const since = t - this.windowMs;
    const full = w.count === limit;
    const allowed = !full || (w.times[w.head] as number) <= since;
    if (allowed) {
      if (full) {
        w.times[w.head] = t;
        w.head = (w.head + 1) % limit;
      } else {
        w.times[(w.head + w.count) % limit] = t;
        w.count++;
      }
      w.last = t;
    }
    // The oldest accepted request still inside the window: binary search, the ring is in time order.
    let lo = 0;
    let hi = w.count;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if ((w.times[(w.head + mid) % limit] as number) > since) hi = mid;
      else lo = mid + 1;
    }
    const inWindow = w.count - lo;
    const oldest = inWindow > 0 ? (w.times[(w.head + lo) % limit] as number) : null;
    const untilFree = oldest === null ? 0 : Math.max(1, Math.ceil((oldest + this.windowMs - t) / 1000));
    const remaining = limit - inWindow;
    const policy = `"${policyName}"`;
    const headers: Record<string, string> = {
      "RateLimit-Policy": `${policy};q=${limit};w=${Math.round(this.windowMs / 1000)}`,
      RateLimit: `${policy};r=${remaining};t=${untilFree}`,
    };
    const retryAfterSeconds = allowed ? null : untilFree;
    if (!allowed) headers["Retry-After"] = String(untilFree);
    return { allowed, limit, remaining, resetSeconds: untilFree, retryAfterSeconds, headers };
  }

  /** Forgets keys idle for a whole window (their state would allow everything anyway). */
  private sweep(t: number): void {
    for (const [id, w] of this.windows) if (w.last <= t - this.windowMs) this.windows.delete(id);
  }
}

/** The refusal as a CaveError (RATE_LIMITED → 429); the HTTP layer adds `decision.headers`. */
export function rateLimited(decision: RateDecision, keyId: string): CaveError {
  return new CaveError("RATE_LIMITED", `API key ${keyId} sent more than ${decision.limit} requests in a minute`, {
    hint: `retry in ${decision.retryAfterSeconds ?? 1} s (Retry-After), or ask an admin to raise limits.rate`,
  });
}
