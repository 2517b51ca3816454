// The unmodified @supabase/supabase-js client against the /auth/v1 handler on a real Bun.serve:
// the calls an app makes, and the errors it sees, as against Supabase itself.
import { describe, expect, test } from "bun:test";
import { createClient, type SupabaseClient } from "@supabase/supabase-js";
import { useAuth } from "./_fixture.ts";

function client(url: string, key: string): SupabaseClient {
  return createClient(url, key, {
    auth: { persistSession: false, autoRefreshToken: false, detectSessionInUrl: false },
  });
}

describe("supabase-js auth", () => {
  const fx = useAuth();

  test("signUp, signInWithPassword, getUser, refreshSession and signOut work as against Supabase", async () => {
    const sb = client(fx.url, fx.service.apiKeys.anon);
    const up = await sb.auth.signUp({
      email: "ada@example.com",
      password: "correct horse",
      options: { data: { name: "Ada" } },
    });
    expect(up.error).toBeNull();
    expect(up.data.user?.email).toBe("ada@example.com");
    expect(up.data.session?.user.user_metadata).toEqual({ name: "Ada" });

    const signIn = await sb.auth.signInWithPassword({ email: "ada@example.com", password: "correct horse" });
    expect(signIn.error).toBeNull();
    const session = signIn.data.session!;
    expect(session.token_type).toBe("bearer");
    expect(session.expires_in).toBe(3600);

    const me = await sb.auth.getUser();
    expect([me.error, me.data.user?.id]).toEqual([null, up.data.user!.id]);

    const refreshed = await sb.auth.refreshSession();
    expect(refreshed.error).toBeNull();
    expect(refreshed.data.session!.refresh_token).not.toBe(session.refresh_token);
    expect((await sb.auth.getSession()).data.session?.access_token).toBe(refreshed.data.session!.access_token);

    const updated = await sb.auth.updateUser({ data: { name: "Ada L." } });
    expect([updated.error, updated.data.user?.user_metadata]).toEqual([null, { name: "Ada L." }]);

    expect(await sb.auth.signOut()).toEqual({ error: null });
    expect((await sb.auth.getSession()).data.session).toBeNull();
    // The access token of the ended session no longer reaches the user.
    const after = await sb.auth.getUser(refreshed.data.session!.access_token);
    expect(after.data.user).toBeNull();
    expect(after.error?.name).toBe("AuthSessionMissingError");
  });

  test("errors arrive as supabase-js's typed errors with GoTrue's codes", async () => {
    const sb = client(fx.url, fx.service.apiKeys.anon);
    await sb.auth.signUp({ email: "ada@example.com", password: "correct horse" });
    const dup = await sb.auth.signUp({ email: "ada@example.com", password: "correct horse" });
    expect([dup.error?.name, dup.error?.status, dup.error?.code, dup.error?.message]).toEqual([
      "AuthApiError",
      422,
      "user_already_exists",
      "User already registered",
    ]);
    const weak = await sb.auth.signUp({ email: "bob@example.com", password: "123" });
    expect([weak.error?.name, weak.error?.code, (weak.error as { reasons?: string[] }).reasons]).toEqual([
      "AuthWeakPasswordError",
      "weak_password",
      ["length"],
    ]);
    const wrong = await sb.auth.signInWithPassword({ email: "ada@example.com", password: "wrong horse" });
    expect([wrong.error?.status, wrong.error?.code, wrong.error?.message]).toEqual([
      400,
      "invalid_credentials",
      "Invalid login credentials",
    ]);
  });

  test("a reused refresh token is refused with refresh_token_already_used", async () => {
    const sb = client(fx.url, fx.service.apiKeys.anon);
    const up = await sb.auth.signUp({ email: "ada@example.com", password: "correct horse" });
    const first = up.data.session!.refresh_token;
    expect((await sb.auth.refreshSession({ refresh_token: first })).error).toBeNull();
    const again = await sb.auth.refreshSession({ refresh_token: first });
    expect([again.error?.status, again.error?.code]).toEqual([400, "refresh_token_already_used"]);
  });

  test("a client with a wrong key gets 401 invalid_jwt", async () => {
    const sb = client(fx.url, "eyJhbGciOiJIUzI1NiJ9.eyJyb2xlIjoiYW5vbiJ9.bad");
    const r = await sb.auth.signInWithPassword({ email: "ada@example.com", password: "correct horse" });
    expect([r.error?.status, r.error?.code]).toEqual([401, "invalid_jwt"]);
  });
});

describe("supabase-js auth with confirmation on", () => {
  const fx = useAuth(() => ({ config: { confirm_email: true } }));

  test("signUp returns the user without a session; login says the email is not confirmed", async () => {
    const sb = client(fx.url, fx.service.apiKeys.anon);
    const up = await sb.auth.signUp({ email: "ada@example.com", password: "correct horse" });
    expect(up.error).toBeNull();
    expect(up.data.session).toBeNull();
    expect(up.data.user?.email).toBe("ada@example.com");
    expect(up.data.user?.email_confirmed_at).toBeUndefined();
    const r = await sb.auth.signInWithPassword({ email: "ada@example.com", password: "correct horse" });
    expect([r.error?.status, r.error?.code, r.error?.message]).toEqual([
      400,
      "email_not_confirmed",
      "Email not confirmed",
    ]);
  });
});
