// Random JSON (and not-JSON) bodies at every /auth/v1 endpoint of a real Bun.serve: each answer
// is GoTrue's error shape with a 4xx, or a success, never a 500 or a body that is not JSON.
// Seeded (AUTH_FUZZ_SEED) so a failure replays.
import { describe, expect, test } from "bun:test";
import fc from "fast-check";
import { useAuth } from "./_fixture.ts";

const SEED = Number(process.env.AUTH_FUZZ_SEED ?? 20261126);
const RUNS = Number(process.env.AUTH_FUZZ_RUNS ?? 150);

const scalar = fc.oneof(
  fc.string({ maxLength: 12 }),
  fc.integer(),
  fc.boolean(),
  fc.constant(null),
  fc.constantFrom("a@example.com", "A@EXAMPLE.COM ", "not-an-email", "", "x".repeat(300), "correct horse battery"),
);
const value = fc.oneof(
  scalar,
  fc.array(scalar, { maxLength: 2 }),
  fc.dictionary(fc.string({ maxLength: 4 }), scalar, { maxKeys: 2 }),
);
// Near-valid sign-ups and logins too, so that some requests get past validation.
const credentials = fc.record({
  email: fc.constantFrom("a@example.com", "B@Example.com", "c@example.com", "not-an-email"),
  password: fc.constantFrom("correct horse battery", "short", "", "another good one"),
});
const body = fc.oneof(
  credentials,
  fc.dictionary(
    fc.constantFrom("email", "password", "refresh_token", "data", "phone", "gotrue_meta_security", "x"),
    value,
    {
      maxKeys: 4,
    },
  ),
  value,
  fc.constantFrom("{", "null", "[]", "\u0000", '{"email": "a@example.com", "password": 1e999}'),
);
const endpoint = fc.constantFrom(
  ["POST", "/signup"],
  ["POST", "/token?grant_type=password"],
  ["POST", "/token?grant_type=refresh_token"],
  ["POST", "/token?grant_type=other"],
  ["POST", "/logout"],
  ["PUT", "/user"],
  ["GET", "/user"],
);

describe("random bodies at /auth/v1", () => {
  const fx = useAuth();
  test(`${RUNS} requests (seed ${SEED}): 2xx or GoTrue's 4xx, never a 500`, async () => {
    const seen = new Set<number>();
    await fc.assert(
      fc.asyncProperty(endpoint, body, fc.boolean(), async ([method, path], b, raw) => {
        const r = await fx.call(method as string, path as string, {
          ...(method === "GET" ? {} : raw && typeof b === "string" ? { raw: b } : { body: b }),
          ...(path === "/logout" || path === "/user" ? { bearer: "not.a.token" } : {}),
        });
        seen.add(r.status);
        expect(r.status).toBeLessThan(500);
        if (r.status >= 400) {
          const e = r.body as { code?: unknown; error_code?: unknown; msg?: unknown };
          expect(typeof e.error_code).toBe("string");
          expect(typeof e.msg).toBe("string");
        }
      }),
      { seed: SEED, numRuns: RUNS },
    );
    // the generator reaches past validation: some requests are refused for what they say, some succeed
    expect([...seen].some((s) => s < 300)).toBe(true);
    expect([...seen].some((s) => s >= 400)).toBe(true);
  }, 120_000);
});
