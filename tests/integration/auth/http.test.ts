// /auth/v1 over a real Bun.serve and a real libSQL file: sign-up, login, refresh-token rotation
// and reuse, logout, the user endpoints, and GoTrue's error shapes.
import { describe, expect, test } from "bun:test";
import { decodeJwt } from "jose";
import { createAuthHandler, type SessionJson } from "../../../src/auth/service.ts";
import { signUp, useAuth } from "./_fixture.ts";

describe("sign-up and login", () => {
  const fx = useAuth();

  test("sign-up confirms at once and answers a session whose access token carries GoTrue's claims", async () => {
    const r = await fx.call("POST", "/signup", {
      body: { email: "  Ada@Example.COM ", password: "correct horse", data: { name: "Ada" } },
    });
    expect(r.status).toBe(200);
    const s = r.body as SessionJson;
    expect(Object.keys(s).sort()).toEqual([
      "access_token",
      "expires_at",
      "expires_in",
      "refresh_token",
      "token_type",
      "user",
    ]);
    expect(s.token_type).toBe("bearer");
    expect(s.expires_in).toBe(3600);
    expect(s.user.email).toBe("ada@example.com");
    expect(s.user.aud).toBe("authenticated");
    expect(s.user.user_metadata).toEqual({ name: "Ada" });
    expect(s.user.app_metadata).toEqual({ provider: "email", providers: ["email"] });
    expect(typeof s.user.email_confirmed_at).toBe("string");
    const claims = decodeJwt(s.access_token);
    expect(claims.exp! - claims.iat!).toBe(3600);
    expect(s.expires_at).toBe(claims.exp!);
    expect(claims).toEqual({
      aud: "authenticated",
      exp: claims.exp!,
      iat: claims.iat!,
      iss: "cave",
      sub: s.user.id,
      email: "ada@example.com",
      phone: "",
      app_metadata: { provider: "email", providers: ["email"] },
      user_metadata: { name: "Ada" },
      role: "authenticated",
      aal: "aal1",
      amr: [{ method: "password", timestamp: claims.iat! }],
      session_id: claims.session_id as string,
      is_anonymous: false,
    });
    expect(
      await fx.service.authenticate({ apikey: fx.service.apiKeys.anon, authorization: `Bearer ${s.access_token}` }),
    ).toEqual({
      role: "authenticated",
      claims,
    });
  });

  test("a second sign-up with the same email in another case is 422 user_already_exists", async () => {
    await signUp(fx, "ada@example.com");
    const r = await fx.call("POST", "/signup", { body: { email: "ADA@example.com", password: "another one" } });
    expect(r).toMatchObject({
      status: 422,
      body: { code: 422, error_code: "user_already_exists", msg: "User already registered" },
    });
  });

  test("a password under 6 characters is 422 weak_password with the reason", async () => {
    const r = await fx.call("POST", "/signup", { body: { email: "ada@example.com", password: "12345" } });
    expect(r.status).toBe(422);
    expect(r.body).toEqual({
      code: 422,
      error_code: "weak_password",
      msg: "Password should be at least 6 characters.",
      weak_password: { reasons: ["length"] },
    });
  });

  test("an invalid email, a missing password and a body that is not JSON are 400s that say what is wrong", async () => {
    expect(
      await fx.call("POST", "/signup", { body: { email: "not-an-email", password: "correct horse" } }),
    ).toMatchObject({
      status: 400,
      body: { error_code: "validation_failed", msg: expect.stringContaining("invalid format") },
    });
    expect(await fx.call("POST", "/signup", { body: { email: "a@example.com" } })).toMatchObject({
      status: 400,
      body: { error_code: "validation_failed", msg: expect.stringContaining("password") },
    });
    expect(await fx.call("POST", "/signup", { raw: "{nope" })).toMatchObject({
      status: 400,
      body: { error_code: "bad_json", msg: expect.stringContaining("Could not parse request body as JSON") },
    });
  });

  test("login answers a new session; a wrong password and an unknown email get the same 400", async () => {
    const first = await signUp(fx);
    const r = await fx.call("POST", "/token?grant_type=password", {
      body: { email: "ADA@example.com", password: "correct horse" },
    });
    expect(r.status).toBe(200);
    const s = r.body as SessionJson;
    expect(s.user.id).toBe(first.user.id);
    expect(decodeJwt(s.access_token).session_id).not.toBe(decodeJwt(first.access_token).session_id);
    expect(typeof s.user.last_sign_in_at).toBe("string");

    const wrong = await fx.call("POST", "/token?grant_type=password", {
      body: { email: "ada@example.com", password: "wrong horse" },
    });
    const unknown = await fx.call("POST", "/token?grant_type=password", {
      body: { email: "bob@example.com", password: "wrong horse" },
    });
    const expected = { code: 400, error_code: "invalid_credentials", msg: "Invalid login credentials" };
    expect([wrong.status, wrong.body]).toEqual([400, expected]);
    expect([unknown.status, unknown.body]).toEqual([400, expected]);
  });

  test("an unknown grant type is refused with the two that exist", async () => {
    const r = await fx.call("POST", "/token?grant_type=magic", { body: {} });
    expect(r).toMatchObject({
      status: 400,
      body: { error_code: "validation_failed", msg: expect.stringContaining("grant_type=password") },
    });
  });
});

describe("refresh tokens", () => {
  const fx = useAuth();
  const refresh = (token: string) =>
    fx.call("POST", "/token?grant_type=refresh_token", { body: { refresh_token: token } });

  test("using a refresh token rotates it: a new refresh token and a new access token for the same session", async () => {
    const s = await signUp(fx);
    const r = await refresh(s.refresh_token);
    expect(r.status).toBe(200);
    const next = r.body as SessionJson;
    expect(next.refresh_token).not.toBe(s.refresh_token);
    expect(next.user.id).toBe(s.user.id);
    expect(decodeJwt(next.access_token).session_id).toBe(decodeJwt(s.access_token).session_id);
    // The successor rotates too.
    expect((await refresh(next.refresh_token)).status).toBe(200);
  });

  test("reusing a rotated refresh token is refused and revokes its whole session", async () => {
    const s = await signUp(fx);
    const next = (await refresh(s.refresh_token)).body as SessionJson;
    expect(await refresh(s.refresh_token)).toMatchObject({
      status: 400,
      body: { code: 400, error_code: "refresh_token_already_used", msg: "Invalid Refresh Token: Already Used" },
    });
    // The legitimate successor is revoked with the family, and the session is gone.
    expect((await refresh(next.refresh_token)).body).toMatchObject({ error_code: "refresh_token_already_used" });
    expect(await fx.call("GET", "/user", { bearer: next.access_token })).toMatchObject({
      status: 403,
      body: { error_code: "session_not_found" },
    });
    // Other sessions of the user are untouched.
    const other = (
      await fx.call("POST", "/token?grant_type=password", {
        body: { email: "ada@example.com", password: "correct horse" },
      })
    ).body as SessionJson;
    expect((await refresh(other.refresh_token)).status).toBe(200);
  });

  test("an unknown refresh token is 400 refresh_token_not_found", async () => {
    expect(await refresh("no-such-token")).toMatchObject({
      status: 400,
      body: { error_code: "refresh_token_not_found", msg: "Invalid Refresh Token: Refresh Token Not Found" },
    });
  });

  test("two concurrent uses of one refresh token: one rotates, the other is a reuse", async () => {
    const s = await signUp(fx);
    const [a, b] = await Promise.all([refresh(s.refresh_token), refresh(s.refresh_token)]);
    expect([a.status, b.status].sort()).toEqual([200, 400]);
  });
});

describe("the user, logout and sessions", () => {
  const fx = useAuth();
  const login = async () =>
    (
      await fx.call("POST", "/token?grant_type=password", {
        body: { email: "ada@example.com", password: "correct horse" },
      })
    ).body as SessionJson;

  test("GET /user answers the user of the access token", async () => {
    const s = await signUp(fx);
    const r = await fx.call("GET", "/user", { bearer: s.access_token });
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({
      id: s.user.id,
      email: "ada@example.com",
      role: "authenticated",
      is_anonymous: false,
    });
  });

  test("GET /user without a bearer token is 401 no_authorization; with an API key it is 403 bad_jwt", async () => {
    expect(await fx.call("GET", "/user")).toMatchObject({ status: 401, body: { error_code: "no_authorization" } });
    expect(await fx.call("GET", "/user", { bearer: fx.service.apiKeys.anon })).toMatchObject({
      status: 403,
      body: { error_code: "bad_jwt" },
    });
  });

  test("logout ends the session: GET /user then fails and its refresh token is unknown", async () => {
    const s = await signUp(fx);
    const out = await fx.call("POST", "/logout?scope=local", { bearer: s.access_token });
    expect([out.status, out.body]).toEqual([204, null]);
    expect(await fx.call("GET", "/user", { bearer: s.access_token })).toMatchObject({
      status: 403,
      body: { code: 403, error_code: "session_not_found" },
    });
    expect(
      await fx.call("POST", "/token?grant_type=refresh_token", { body: { refresh_token: s.refresh_token } }),
    ).toMatchObject({ status: 400, body: { error_code: "refresh_token_not_found" } });
  });

  test("logout scope=others keeps only the caller's session; global (the default) ends all", async () => {
    const a = await signUp(fx);
    const b = await login();
    const c = await login();
    expect((await fx.call("POST", "/logout?scope=others", { bearer: b.access_token })).status).toBe(204);
    expect((await fx.call("GET", "/user", { bearer: a.access_token })).status).toBe(403);
    expect((await fx.call("GET", "/user", { bearer: c.access_token })).status).toBe(403);
    expect((await fx.call("GET", "/user", { bearer: b.access_token })).status).toBe(200);
    const d = await login();
    expect((await fx.call("POST", "/logout", { bearer: d.access_token })).status).toBe(204);
    expect((await fx.call("GET", "/user", { bearer: b.access_token })).status).toBe(403);
    expect((await fx.call("POST", "/logout?scope=everyone", { bearer: d.access_token })).body).toMatchObject({
      error_code: "validation_failed",
    });
  });

  test("PUT /user merges metadata and changes the password, ending the user's other sessions", async () => {
    const s = await signUp(fx);
    const other = await login();
    const r = await fx.call("PUT", "/user", { bearer: s.access_token, body: { data: { name: "Ada", x: 1 } } });
    expect(r).toMatchObject({ status: 200, body: { user_metadata: { name: "Ada", x: 1 } } });
    const r2 = await fx.call("PUT", "/user", {
      bearer: s.access_token,
      body: { data: { x: null }, password: "battery staple" },
    });
    expect(r2).toMatchObject({ status: 200, body: { user_metadata: { name: "Ada" } } });
    expect((await fx.call("GET", "/user", { bearer: s.access_token })).status).toBe(200);
    expect((await fx.call("GET", "/user", { bearer: other.access_token })).status).toBe(403);
    expect((await login()) as unknown).toMatchObject({ error_code: "invalid_credentials" });
    const again = await fx.call("POST", "/token?grant_type=password", {
      body: { email: "ada@example.com", password: "battery staple" },
    });
    expect(again.status).toBe(200);
    expect(
      await fx.call("PUT", "/user", { bearer: s.access_token, body: { password: "battery staple" } }),
    ).toMatchObject({
      status: 422,
      body: { error_code: "same_password" },
    });
    expect(await fx.call("PUT", "/user", { bearer: s.access_token, body: { password: "abc" } })).toMatchObject({
      status: 422,
      body: { error_code: "weak_password" },
    });
  });
});

describe("the gateway's apikey and the plain endpoints", () => {
  const fx = useAuth();

  test("a request without an apikey is 401 missing_apikey; a user's token as apikey is 401 invalid_jwt", async () => {
    const none = await fx.call("GET", "/settings", { apikey: null });
    expect(none.status).toBe(401);
    expect(none.body).toEqual({
      code: 401,
      error_code: "missing_apikey",
      msg: expect.stringContaining("apikey header"),
    });
    expect(none.headers.get("www-authenticate")).toContain("Bearer");
    const s = await signUp(fx);
    expect(await fx.call("GET", "/settings", { apikey: s.access_token })).toMatchObject({
      status: 401,
      body: { error_code: "invalid_jwt" },
    });
    expect((await fx.call("GET", "/settings", { apikey: fx.service.apiKeys.service_role })).status).toBe(200);
  });

  test("settings, health and the (empty, for HS256) JWKS answer as GoTrue's", async () => {
    expect(await fx.call("GET", "/settings")).toMatchObject({
      status: 200,
      body: { disable_signup: false, mailer_autoconfirm: true, external: { email: true, phone: false } },
    });
    expect(await fx.call("GET", "/health")).toMatchObject({ status: 200, body: { name: "GoTrue" } });
    expect(await fx.call("GET", "/.well-known/jwks.json", { apikey: null })).toEqual({
      status: 200,
      body: { keys: [] },
      headers: expect.anything(),
    });
  });

  test("an unknown auth path is 404, a wrong method 405, and other paths are not the handler's", async () => {
    expect(await fx.call("GET", "/nope")).toMatchObject({ status: 404, body: { error_code: "not_found" } });
    expect(await fx.call("DELETE", "/user")).toMatchObject({
      status: 405,
      body: { msg: "Use GET or PUT on this endpoint" },
    });
    const handle = createAuthHandler(fx.service);
    expect(await handle(new Request("http://x/rest/v1/todos"))).toBeNull();
    expect(await handle(new Request("http://x/auth/v10/user"))).toBeNull();
  });

  test("phone sign-up is refused as unsupported", async () => {
    expect(await fx.call("POST", "/signup", { body: { phone: "+15550100", password: "correct horse" } })).toMatchObject(
      {
        status: 400,
        body: { error_code: "phone_provider_disabled" },
      },
    );
  });
});

describe("settings from cave.yaml's auth section", () => {
  const fx = useAuth(() => ({ config: { password_min_length: 10, jwt_expiry: "15m" } }));

  test("password_min_length and jwt_expiry change the policy and the token lifetime", async () => {
    expect(
      await fx.call("POST", "/signup", { body: { email: "ada@example.com", password: "123456789" } }),
    ).toMatchObject({
      status: 422,
      body: { error_code: "weak_password", msg: "Password should be at least 10 characters." },
    });
    const s = await signUp(fx, "ada@example.com", "0123456789");
    const claims = decodeJwt(s.access_token);
    expect([(s as unknown as SessionJson).expires_in, claims.exp! - claims.iat!]).toEqual([900, 900]);
  });

  test("a login with an email that is not even an address answers invalid_credentials like any unknown one", async () => {
    expect(
      await fx.call("POST", "/token?grant_type=password", { body: { email: "nobody", password: "0123456789" } }),
    ).toMatchObject({ status: 400, body: { error_code: "invalid_credentials" } });
  });
});
