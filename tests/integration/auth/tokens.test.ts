// The JWTs: what RequestAuth.authenticate accepts and refuses (with which AuthFailure), the
// 401 answers of /auth/v1, the signing key kept in the data directory across restarts, a given
// secret, and ES256 with its JWKS.
import { describe, expect, test } from "bun:test";
import { readFileSync, rmSync, statSync } from "node:fs";
import { join } from "node:path";
import { createLocalJWKSet, decodeJwt, exportJWK, importJWK, jwtVerify, SignJWT } from "jose";
import { AuthService, isAuthError } from "../../../src/auth/service.ts";
import { isCaveError } from "../../../src/core/errors.ts";
import { signUp, tempDir, useAuth } from "./_fixture.ts";

const SECRET = "a-test-secret-that-is-long-enough-for-hs256";

async function failure(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (e) {
    if (isAuthError(e)) return e.failure;
    throw e;
  }
  throw new Error("expected an AuthError");
}

const b64 = (x: unknown) => Buffer.from(JSON.stringify(x)).toString("base64url");
const now = () => Math.floor(Date.now() / 1000);

function hs256(claims: Record<string, unknown>, secret = SECRET): Promise<string> {
  return new SignJWT(claims).setProtectedHeader({ alg: "HS256", typ: "JWT" }).sign(new TextEncoder().encode(secret));
}

describe("HS256 tokens with a given secret", () => {
  const fx = useAuth(() => ({ env: { CAVE_JWT_SECRET: SECRET } }));
  const auth = (token: string) =>
    fx.service.authenticate({ apikey: fx.service.apiKeys.anon, authorization: `Bearer ${token}` });

  test("the anon and service-role keys authenticate as their roles, and a bearer token wins over the apikey", async () => {
    const { anon, service_role } = fx.service.apiKeys;
    expect(await fx.service.authenticate({ apikey: anon, authorization: null })).toMatchObject({
      role: "anon",
      claims: { iss: "cave" },
    });
    expect((await fx.service.authenticate({ apikey: service_role, authorization: null })).role).toBe("service_role");
    expect((await fx.service.authenticate({ apikey: anon, authorization: `Bearer ${service_role}` })).role).toBe(
      "service_role",
    );
    // Without an apikey, a bearer token alone is enough (a server-side client).
    expect((await fx.service.authenticate({ apikey: null, authorization: `bearer ${anon}` })).role).toBe("anon");
    const claims = decodeJwt(anon);
    expect(claims).toEqual({ role: "anon", iss: "cave", iat: claims.iat!, exp: claims.exp! });
    expect(claims.exp! - claims.iat!).toBeGreaterThan(50 * 365 * 24 * 3600);
  });

  test("tokens signed with the given secret verify elsewhere with it (interoperable with Supabase's tools)", async () => {
    const s = await signUp(fx);
    const { payload } = await jwtVerify(s.access_token, new TextEncoder().encode(SECRET), {
      audience: "authenticated",
    });
    expect(payload.sub).toBe(s.user.id);
    expect(
      (await auth(await hs256({ role: "authenticated", aud: "authenticated", sub: "u1", exp: now() + 60 }))).claims.sub,
    ).toBe("u1");
  });

  test("no credentials at all are missing_apikey; a non-Bearer Authorization is invalid_jwt", async () => {
    expect(await failure(fx.service.authenticate({ apikey: null, authorization: null }))).toBe("missing_apikey");
    expect(await failure(fx.service.authenticate({ apikey: "", authorization: null }))).toBe("missing_apikey");
    expect(
      await failure(fx.service.authenticate({ apikey: fx.service.apiKeys.anon, authorization: "Basic eDp5" })),
    ).toBe("invalid_jwt");
  });

  test("expired, malformed, wrongly signed, alg:none and unknown-role tokens are refused with their codes", async () => {
    expect(await failure(auth(await hs256({ role: "anon", exp: now() - 60 })))).toBe("expired_jwt");
    expect(await failure(auth("not.a.jwt"))).toBe("invalid_jwt");
    expect(await failure(auth("garbage"))).toBe("invalid_jwt");
    expect(
      await failure(auth(await hs256({ role: "anon", exp: now() + 60 }, "another-secret-that-is-long-enough-too"))),
    ).toBe("invalid_jwt");
    expect(
      await failure(auth(`${b64({ alg: "none", typ: "JWT" })}.${b64({ role: "service_role", exp: now() + 60 })}.`)),
    ).toBe("invalid_jwt");
    expect(await failure(auth(await hs256({ role: "postgres", exp: now() + 60 })))).toBe("invalid_jwt");
    expect(await failure(auth(await hs256({ role: "anon" })))).toBe("invalid_jwt"); // no exp: never accepted
    // A user's role without its audience or subject is not a user's token.
    expect(await failure(auth(await hs256({ role: "authenticated", sub: "u1", exp: now() + 60 })))).toBe("invalid_jwt");
    expect(await failure(auth(await hs256({ role: "authenticated", aud: "authenticated", exp: now() + 60 })))).toBe(
      "invalid_jwt",
    );
    // A tampered payload under the original signature.
    const [h, , sig] = fx.service.apiKeys.anon.split(".");
    expect(
      await failure(auth(`${h}.${b64({ role: "service_role", iss: "cave", iat: 0, exp: now() + 60 })}.${sig}`)),
    ).toBe("invalid_jwt");
  });

  test("the /auth/v1 answer to a refused token is 401 with the code and nothing else", async () => {
    const cases: [string, string][] = [
      [
        await hs256({ role: "authenticated", aud: "authenticated", sub: "u", session_id: "s", exp: now() - 60 }),
        "expired_jwt",
      ],
      ["eyJhbGciOiJIUzI1NiJ9.e30", "invalid_jwt"],
      [await hs256({ role: "anon", exp: now() + 60 }, "another-secret-that-is-long-enough-too"), "invalid_jwt"],
      [
        `${b64({ alg: "none" })}.${b64({ role: "authenticated", aud: "authenticated", sub: "u", exp: now() + 60 })}.`,
        "invalid_jwt",
      ],
    ];
    for (const [token, code] of cases) {
      const r = await fx.call("GET", "/user", { bearer: token });
      expect([r.status, Object.keys(r.body as object), (r.body as Record<string, unknown>).error_code]).toEqual([
        401,
        ["code", "error_code", "msg"],
        code,
      ]);
    }
  });

  test("a verified token is cached: the same frozen context comes back for the same token text", async () => {
    const token = await hs256({ role: "anon", exp: now() + 60 });
    const a = await auth(token);
    expect(await auth(token)).toBe(a);
    expect(Object.isFrozen(a) && Object.isFrozen(a.claims)).toBe(true);
  });
});

describe("the signing key in the data directory", () => {
  test("a generated secret is kept (file 0600, directory 0700) and tokens and keys survive a restart", async () => {
    const dir = tempDir();
    try {
      const first = await AuthService.open({ dataDir: dir, env: {} });
      const r = await first.signUp({ email: "ada@example.com", password: "correct horse" });
      const keys = first.apiKeys;
      first.close();
      expect(statSync(join(dir, "auth")).mode & 0o777).toBe(0o700);
      expect(statSync(join(dir, "auth", "jwt-secret")).mode & 0o777).toBe(0o600);
      expect(readFileSync(join(dir, "auth", "jwt-secret"), "utf8").trim()).toMatch(/^[A-Za-z0-9_-]{43}$/);

      const second = await AuthService.open({ dataDir: dir, env: {} });
      try {
        expect(second.apiKeys).toEqual(keys);
        const token = (r as { access_token: string }).access_token;
        expect((await second.authenticate({ apikey: keys.anon, authorization: `Bearer ${token}` })).role).toBe(
          "authenticated",
        );
        expect((await second.getUser(token)).email).toBe("ada@example.com");
      } finally {
        second.close();
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test("a given secret shorter than 32 characters is refused with a message that says what to do", async () => {
    const dir = tempDir();
    try {
      let err: unknown;
      try {
        await AuthService.open({ dataDir: dir, env: { CAVE_JWT_SECRET: "short" } });
      } catch (e) {
        err = e;
      }
      expect(isCaveError(err)).toBe(true);
      expect([(err as Error & { code: string }).code, (err as Error).message]).toEqual([
        "AUTH_JWT_SECRET_WEAK",
        "CAVE_JWT_SECRET has 5 characters; a JWT secret needs at least 32",
      ]);
      expect((err as { hint: string }).hint).toContain("openssl rand -base64 32");
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test("a changed secret makes new anon and service-role keys, and the old ones stop working", async () => {
    const dir = tempDir();
    try {
      const a = await AuthService.open({ dataDir: dir, env: { CAVE_JWT_SECRET: SECRET } });
      const old = a.apiKeys;
      a.close();
      const b = await AuthService.open({ dataDir: dir, env: { CAVE_JWT_SECRET: `${SECRET}-rotated` } });
      try {
        expect(b.apiKeys.anon).not.toBe(old.anon);
        expect((await b.authenticate({ apikey: b.apiKeys.anon, authorization: null })).role).toBe("anon");
        expect(await failure(b.authenticate({ apikey: old.anon, authorization: null }))).toBe("invalid_jwt");
      } finally {
        b.close();
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("ES256", () => {
  const fx = useAuth(() => ({ config: { jwt_algorithm: "ES256" } }));

  test("tokens carry the key's kid and verify against the JWKS endpoint's public key", async () => {
    const jwks = await fx.call("GET", "/.well-known/jwks.json", { apikey: null });
    const keys = (jwks.body as { keys: Record<string, unknown>[] }).keys;
    expect(keys.length).toBe(1);
    expect(keys[0]).toMatchObject({ kty: "EC", crv: "P-256", alg: "ES256", use: "sig" });
    expect(keys[0]).not.toHaveProperty("d");
    const s = await signUp(fx);
    const { payload, protectedHeader } = await jwtVerify(s.access_token, createLocalJWKSet(jwks.body as never));
    expect(protectedHeader).toEqual({ alg: "ES256", typ: "JWT", kid: keys[0]!.kid as string });
    expect(payload.sub).toBe(s.user.id);
    expect((await fx.call("GET", "/user", { bearer: s.access_token })).status).toBe(200);
  });

  test("an HS256 token signed with the public key (algorithm confusion) and an HS256 key are refused", async () => {
    const pub = (fx.service.jwks.keys[0] ?? {}) as Record<string, unknown>;
    const claims = { role: "service_role", exp: now() + 60 };
    const forged = [
      await hs256(claims, JSON.stringify(pub)),
      await hs256(claims, `${pub.x}${pub.y}`),
      await new SignJWT(claims)
        .setProtectedHeader({ alg: "HS256", kid: pub.kid as string })
        .sign(Buffer.from(JSON.stringify(pub))),
    ];
    for (const token of forged) {
      expect(await failure(fx.service.authenticate({ apikey: token, authorization: null }))).toBe("invalid_jwt");
      expect((await fx.call("GET", "/settings", { apikey: token })).body).toMatchObject({
        code: 401,
        error_code: "invalid_jwt",
      });
    }
  });

  test("the key pair is kept in the data directory (0600): keys and tokens survive a restart", async () => {
    const s = await signUp(fx);
    expect(statSync(join(fx.dir, "auth", "jwt-es256.jwk.json")).mode & 0o777).toBe(0o600);
    const again = await AuthService.open({ dataDir: fx.dir, config: { jwt_algorithm: "ES256" }, env: {} });
    try {
      expect(again.apiKeys).toEqual(fx.service.apiKeys);
      expect(again.jwks).toEqual(fx.service.jwks);
      expect((await again.getUser(s.access_token)).id).toBe(s.user.id);
      // A token signed by another P-256 key with the same kid is refused.
      const other = await importJWK(
        {
          ...(await exportJWK(
            (
              await crypto.subtle.generateKey({ name: "ECDSA", namedCurve: "P-256" }, true, ["sign"])
            ).privateKey,
          )),
        },
        "ES256",
      );
      const forged = await new SignJWT({ role: "service_role", exp: now() + 60 })
        .setProtectedHeader({ alg: "ES256", kid: again.jwks.keys[0]!.kid as string })
        .sign(other);
      expect(await failure(again.authenticate({ apikey: forged, authorization: null }))).toBe("invalid_jwt");
    } finally {
      again.close();
    }
  });
});
