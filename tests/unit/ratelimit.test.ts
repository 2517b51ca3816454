// The sliding-window limiter on a clock the test moves (no sleeps): exactly L per window, the
// window slides (a place frees 60 s after the request that took it, not at a minute boundary),
// keys and roles are counted apart, the headers follow draft-ietf-httpapi-ratelimit-headers-09,
// and limits come from cave.yaml's limits.rate.
import { describe, expect, test } from "bun:test";
import type { CaveError } from "../../src/core/errors.ts";
import { DEFAULT_RATE_LIMITS, RateLimiter, rateLimited } from "../../src/governance/ratelimit.ts";

function limiter(
  limits: ConstructorParameters<typeof RateLimiter>[0] extends infer O
    ? O extends { limits?: infer L }
      ? L
      : never
    : never = {},
) {
  const clock = { t: 1_000_000 };
  return { clock, rl: new RateLimiter({ limits, now: () => clock.t }) };
}
const session = { keyId: "k1", role: "session" as const };

describe("RateLimiter", () => {
  test("the defaults are admin 1000, namespace 100, session 50, model-access 200 a minute", () => {
    expect(new RateLimiter().limits).toEqual({ admin: 1000, namespace: 100, session: 50, "model-access": 200 });
    expect(DEFAULT_RATE_LIMITS).toEqual({ admin: 1000, namespace: 100, session: 50, "model-access": 200 });
  });

  test("allows exactly L requests at once and refuses the next with Retry-After and the draft's fields", () => {
    const { rl } = limiter({ session: 5 });
    const decisions = Array.from({ length: 8 }, () => rl.take(session));
    expect(decisions.map((d) => d.allowed)).toEqual([true, true, true, true, true, false, false, false]);
    expect(decisions.map((d) => d.remaining)).toEqual([4, 3, 2, 1, 0, 0, 0, 0]);
    expect(decisions[0]?.headers).toEqual({
      "RateLimit-Policy": '"session";q=5;w=60',
      RateLimit: '"session";r=4;t=60',
    });
    expect(decisions[5]).toEqual({
      allowed: false,
      limit: 5,
      remaining: 0,
      resetSeconds: 60,
      retryAfterSeconds: 60,
      headers: { "RateLimit-Policy": '"session";q=5;w=60', RateLimit: '"session";r=0;t=60', "Retry-After": "60" },
    });
  });

  test("the window slides: each place frees 60 s after the request that took it", () => {
    const { clock, rl } = limiter({ session: 3 });
    rl.take(session); // t0
    clock.t += 20_000;
    rl.take(session); // t0+20
    clock.t += 20_000;
    rl.take(session); // t0+40
    expect(rl.take(session)).toMatchObject({ allowed: false, retryAfterSeconds: 20 });
    clock.t += 19_999; // t0+59.999: the first is still inside the window
    expect(rl.take(session).allowed).toBe(false);
    clock.t += 1; // t0+60: it leaves, one place frees
    expect(rl.take(session)).toMatchObject({ allowed: true, remaining: 0, resetSeconds: 20 });
    expect(rl.take(session)).toMatchObject({ allowed: false, retryAfterSeconds: 20 });
    // A fixed window would allow a burst across its boundary; this never allows more than 3 in any 60 s.
    clock.t += 60_000;
    expect([rl.take(session), rl.take(session), rl.take(session), rl.take(session)].map((d) => d.allowed)).toEqual([
      true,
      true,
      true,
      false,
    ]);
  });

  test("refused requests take no place: a client hammering past the limit is free again a window after its last accepted request", () => {
    const { clock, rl } = limiter({ session: 2 });
    rl.take(session);
    rl.take(session);
    for (let i = 0; i < 100; i++) {
      clock.t += 500;
      expect(rl.take(session).allowed).toBe(false);
    }
    clock.t += 10_000; // 60 s after the first accepted request
    expect(rl.take(session).allowed).toBe(true);
  });

  test("keys are counted apart, each by its own role's limit", () => {
    const { rl } = limiter({ session: 1, namespace: 2 });
    expect(rl.take({ keyId: "a", role: "session" }).allowed).toBe(true);
    expect(rl.take({ keyId: "a", role: "session" }).allowed).toBe(false);
    expect(rl.take({ keyId: "b", role: "session" }).allowed).toBe(true);
    expect([1, 2, 3].map(() => rl.take({ keyId: "c", role: "namespace" }).allowed)).toEqual([true, true, false]);
  });

  test("limits.rate overrides single roles; a bad value is CONFIG_INVALID", () => {
    expect(new RateLimiter({ limits: { session: 7 } }).limits).toEqual({ ...DEFAULT_RATE_LIMITS, session: 7 });
    const bad = (limits: Record<string, number>) => {
      try {
        new RateLimiter({ limits });
      } catch (e) {
        return [(e as CaveError).code, (e as CaveError).message];
      }
      return null;
    };
    expect(bad({ session: 0 })).toEqual([
      "CONFIG_INVALID",
      "limits.rate.session: 0 is not a whole number of 1 or more",
    ]);
    expect(bad({ owner: 5 })).toEqual(["CONFIG_INVALID", 'limits.rate: unknown role "owner"']);
  });

  test("the refusal is RATE_LIMITED with the wait in its hint", () => {
    const { rl } = limiter({ session: 1 });
    rl.take(session);
    const e = rateLimited(rl.take(session), "k1");
    expect([e.code, e.message, e.hint]).toEqual([
      "RATE_LIMITED",
      "API key k1 sent more than 1 requests in a minute",
      "retry in 60 s (Retry-After), or ask an admin to raise limits.rate",
    ]);
  });
});
