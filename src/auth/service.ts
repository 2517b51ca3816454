// bkg-db's auth service: users with email and password, sessions with rotating refresh tokens,
// and the JWTs every data-API request carries, compatible with Supabase Auth (GoTrue) so the
// unmodified @supabase/supabase-js client works against it. docs/auth.md is its manual.
//
// ── The interface for the servers (src/server/**) ────────────────────────────────────────────
//
//   import { AuthService, createAuthHandler, credentialsOf, isAuthError, errorResponse } from "../auth/service.ts";
//
//   const auth = await AuthService.open({ dataDir, url?, config?: caveConfig.auth, env? });
//     Opens its own engine connection to <dataDir>/cave.db (or `url`), creates its tables
//     (cave_auth_*), loads or generates the signing key in <dataDir>/auth/. Throws CaveError
//     AUTH_JWT_SECRET_WEAK / AUTH_KEY_FILE with a message that says what to do.
//
//   const handle = createAuthHandler(auth);   // (req: Request) => Promise<Response | null>
//     Answers everything under /auth/v1 (signup, token, logout, user, settings, health,
//     .well-known/jwks.json); null for any other path, so the server tries its next route.
//
//   const ctx = await auth.authenticate(credentialsOf(req));   // RequestAuth (src/auth/types.ts)
//     → AuthContext { role, claims } for Engine queries; the bearer token if given, else the
//     apikey. Throws AuthError (isAuthError(e); e.failure: missing_apikey | invalid_jwt |
//     expired_jwt; e.status 401); errorResponse(e) is the 401 answer in GoTrue's shape.
//     Verified tokens are cached until their exp: a repeated token costs a Map lookup.
//     Access tokens are stateless here as in Supabase: a logged-out session's access token
//     stays valid for the data API until its exp (at most auth.jwt_expiry); /auth/v1/user checks.
//
//   auth.apiKeys → { anon, service_role }: the keys `cave db keys` prints (also readApiKeys(opts),
//     which needs no database).
//   auth.close()  closes the connection.
import { join } from "node:path";
import type { AuthConfig } from "../../schema/config.ts";
import { Engine } from "../db/engine.ts";
import { DATABASE_FILE, ensureDataDir } from "../db/paths.ts";
import { openStore } from "../db/store/index.ts";
import { bearerToken } from "./credentials.ts";
import { AuthApiError, AuthError } from "./errors.ts";
import { TokenVerifier } from "./jwt.ts";
import { type ApiKeys, loadApiKeys, loadSigningKey, type SigningKey, sign } from "./keys.ts";
import { checkPassword, dummyHash, hashPassword, normalizeEmail, requireEmail, verifyPassword } from "./passwords.ts";
import { type AuthSettings, resolveAuthSettings } from "./settings.ts";
import { AuthStore, type UserRow } from "./store.ts";
import type { AuthContext, RequestAuth, RequestCredentials } from "./types.ts";

export { bearerToken, credentialsOf } from "./credentials.ts";
export { AuthApiError, AuthError, errorBody, errorResponse, isAuthApiError, isAuthError } from "./errors.ts";
export { createAuthHandler } from "./http.ts";
export type { ApiKeys } from "./keys.ts";
export type { AuthContext, AuthFailure, RequestAuth, RequestCredentials } from "./types.ts";

export interface AuthServiceOptions {
  /** cave's data directory: the signing key lives in <dataDir>/auth/, the database by default in <dataDir>/cave.db. */
  dataDir: string;
  /** The database when not <dataDir>/cave.db: what openStore takes. */
  url?: string;
  /** cave.yaml's `auth` section (validated by schema/config.ts). */
  config?: AuthConfig;
  /** Where CAVE_JWT_SECRET is read; process.env by default. */
  env?: Record<string, string | undefined>;
  /** Waits for another connection's write lock on timers, not on the thread (cave serve; see LocalStore). */
  yieldOnBusy?: boolean;
}

/** GoTrue's user object, as auth-js's User type has it. */
export interface UserJson {
  id: string;
  aud: "authenticated";
  role: "authenticated";
  email: string;
  email_confirmed_at?: string;
  phone: string;
  confirmed_at?: string;
  last_sign_in_at?: string;
  app_metadata: Record<string, unknown>;
  user_metadata: Record<string, unknown>;
  identities: Record<string, unknown>[];
  created_at: string;
  updated_at: string;
  is_anonymous: false;
}

/** GoTrue's session answer of signup and /token. */
export interface SessionJson {
  access_token: string;
  token_type: "bearer";
  expires_in: number;
  expires_at: number;
  refresh_token: string;
  user: UserJson;
}

export type LogoutScope = "global" | "local" | "others";

/** The engine prints timestamptz as Postgres does (`2024-05-01 09:30:00.25+00`); GoTrue sends ISO 8601. */
function iso(ts: string): string;
function iso(ts: string | null): string | undefined;
function iso(ts: string | null): string | undefined {
  if (ts === null) return undefined;
  return new Date(ts.replace(" ", "T").replace(/\+00$/, "Z")).toISOString();
}

export function userJson(u: UserRow): UserJson {
  const confirmed = iso(u.email_confirmed_at);
  const lastSignIn = iso(u.last_sign_in_at);
  return {
    id: u.id,
    aud: "authenticated",
    role: "authenticated",
    email: u.email,
    ...(confirmed ? { email_confirmed_at: confirmed } : {}),
    phone: "",
    ...(confirmed ? { confirmed_at: confirmed } : {}),
    ...(lastSignIn ? { last_sign_in_at: lastSignIn } : {}),
    app_metadata: u.raw_app_meta_data,
    user_metadata: u.raw_user_meta_data,
    identities: [
      {
        identity_id: u.id,
        id: u.id,
        user_id: u.id,
        identity_data: { email: u.email, email_verified: confirmed !== undefined, phone_verified: false, sub: u.id },
        provider: "email",
        ...(lastSignIn ? { last_sign_in_at: lastSignIn } : {}),
        created_at: iso(u.created_at),
        updated_at: iso(u.updated_at),
        email: u.email,
      },
    ],
    created_at: iso(u.created_at),
    updated_at: iso(u.updated_at),
    is_anonymous: false,
  };
}

/** The signing key, a verifier over it, and the anon and service-role keys kept beside it. */
async function loadKeys(opts: Omit<AuthServiceOptions, "url">) {
  const settings = resolveAuthSettings(opts.config, opts.env ?? process.env);
  ensureDataDir(opts.dataDir);
  const key = await loadSigningKey(opts.dataDir, settings);
  const verifier = new TokenVerifier(key);
  const apiKeys = await loadApiKeys(opts.dataDir, key, async (token, role) => {
    try {
      return (await verifier.verify(token)).role === role;
    } catch {
      return false; // signed by another key (a changed secret): issue new keys
    }
  });
  return { settings, key, verifier, apiKeys };
}

/** The anon and service-role keys of a data directory, without opening the database (`cave db keys`). */
export async function readApiKeys(opts: Omit<AuthServiceOptions, "url">): Promise<ApiKeys> {
  return (await loadKeys(opts)).apiKeys;
}

const INVALID_CREDENTIALS = () => new AuthApiError(400, "invalid_credentials", "Invalid login credentials");

export class AuthService implements RequestAuth {
  private constructor(
    private readonly engine: Engine,
    private readonly store: AuthStore,
    private readonly key: SigningKey,
    private readonly verifier: TokenVerifier,
    private readonly dummy: string,
    readonly settings: AuthSettings,
    readonly apiKeys: ApiKeys,
  ) {}

  static async open(opts: AuthServiceOptions): Promise<AuthService> {
    const { settings, key, verifier, apiKeys } = await loadKeys(opts);
    const engine = await Engine.open(
      openStore(opts.url ?? join(opts.dataDir, DATABASE_FILE), { yieldOnBusy: opts.yieldOnBusy === true }),
    );
    try {
      const store = new AuthStore(engine);
      await store.init();
      return new AuthService(engine, store, key, verifier, await dummyHash(), settings, apiKeys);
    } catch (e) {
      engine.close();
      throw e;
    }
  }

  close(): void {
    this.engine.close();
  }

  /** The public keys tokens are verified with (none for HS256). */
  get jwks(): SigningKey["jwks"] {
    return this.key.jwks;
  }

  /** A token's role and claims, or AuthError (invalid_jwt, expired_jwt). */
  verify(token: string): Promise<AuthContext> {
    return this.verifier.verify(token);
  }

  /**
   * The request's role: the bearer token's if there is one, else the apikey's. An apikey that is
   * sent must be a valid anon or service-role key even beside a bearer token, as at Supabase's gateway.
   */
  async authenticate(creds: RequestCredentials): Promise<AuthContext> {
    const apikey = creds.apikey?.trim() || null;
    const bearer = bearerToken(creds.authorization);
    // An Authorization header that is not `Bearer <token>` is refused, not ignored.
    if (bearer === null && creds.authorization?.trim()) throw new AuthError("invalid_jwt");
    if (apikey === null && bearer === null) throw new AuthError("missing_apikey");
    let keyCtx: AuthContext | null = null;
    if (apikey !== null) {
      keyCtx = await this.verifier.verify(apikey);
      if (keyCtx.role !== "anon" && keyCtx.role !== "service_role") throw new AuthError("invalid_jwt");
    }
    return bearer !== null ? await this.verifier.verify(bearer) : (keyCtx as AuthContext);
  }

  /** What GoTrue's GET /settings says of this server. */
  publicSettings(): Record<string, unknown> {
    return {
      external: { anonymous_users: false, email: true, phone: false },
      disable_signup: false,
      mailer_autoconfirm: !this.settings.confirmEmail,
      phone_autoconfirm: false,
      sms_provider: "",
      saml_enabled: false,
    };
  }

  async signUp(input: {
    email: string;
    password: string;
    data?: Record<string, unknown>;
  }): Promise<SessionJson | UserJson> {
    const email = requireEmail(input.email);
    checkPassword(input.password, this.settings.passwordMinLength);
    const user = await this.store.createUser({
      email,
      passwordHash: await hashPassword(input.password),
      confirmed: !this.settings.confirmEmail,
      userMetadata: input.data ?? {},
    });
    if (!user) throw new AuthApiError(422, "user_already_exists", "User already registered");
    // Confirmation on: the user and no session (GoTrue's answer while the mail is on its way).
    if (this.settings.confirmEmail) return userJson(user);
    return await this.startSession(user.id);
  }

  async signInWithPassword(input: { email: string; password: string }): Promise<SessionJson> {
    const email = normalizeEmail(input.email);
    const user = email === null ? null : await this.store.findUserByEmail(email);
    // An unknown email costs one Argon2id verification too: timing does not reveal who exists.
    const ok = await verifyPassword(input.password, user?.encrypted_password ?? this.dummy);
    if (!user || !ok) throw INVALID_CREDENTIALS();
    if (user.email_confirmed_at === null) throw new AuthApiError(400, "email_not_confirmed", "Email not confirmed");
    return await this.startSession(user.id);
  }

  async refresh(refreshToken: string): Promise<SessionJson> {
    const out = await this.store.refresh(refreshToken);
    if (out.kind === "unknown") {
      throw new AuthApiError(400, "refresh_token_not_found", "Invalid Refresh Token: Refresh Token Not Found");
    }
    if (out.kind === "reused") {
      throw new AuthApiError(400, "refresh_token_already_used", "Invalid Refresh Token: Already Used");
    }
    return await this.sessionJson(out.user, out.sessionId, out.token);
  }

  /** The user behind a user's access token whose session still exists (GET /auth/v1/user). */
  async userFromToken(token: string | null): Promise<{ user: UserRow; sessionId: string }> {
    if (token === null) {
      throw new AuthApiError(
        401,
        "no_authorization",
        "This endpoint requires a valid Bearer token: send Authorization: Bearer <access_token>",
      );
    }
    const { claims } = await this.verifier.verify(token);
    const sub = claims.sub;
    const sessionId = claims.session_id;
    if (typeof sub !== "string" || typeof sessionId !== "string") {
      throw new AuthApiError(
        403,
        "bad_jwt",
        "invalid claim: missing sub or session_id claim (send a user's access token, not an API key)",
      );
    }
    if (!(await this.store.sessionExists(sessionId, sub))) {
      // auth-js turns this code into AuthSessionMissingError and drops its stored session.
      throw new AuthApiError(403, "session_not_found", "Session from session_id claim in JWT does not exist");
    }
    const user = await this.store.findUser(sub);
    if (!user) throw new AuthApiError(404, "user_not_found", "User from sub claim in JWT does not exist");
    return { user, sessionId };
  }

  async getUser(token: string | null): Promise<UserJson> {
    return userJson((await this.userFromToken(token)).user);
  }

  /**
   * PUT /auth/v1/user: a new password (other sessions end, as in GoTrue) and/or user metadata
   * merged key by key (null removes a key).
   */
  async updateUser(
    token: string | null,
    change: { password?: string; data?: Record<string, unknown>; email?: string },
  ): Promise<UserJson> {
    const { user, sessionId } = await this.userFromToken(token);
    if (change.email !== undefined && normalizeEmail(change.email) !== user.email) {
      throw new AuthApiError(
        422,
        "email_change_not_supported",
        "Changing the email address is not supported: there is no mail server to confirm it",
      );
    }
    let passwordHash: string | undefined;
    if (change.password !== undefined) {
      checkPassword(change.password, this.settings.passwordMinLength);
      if (await verifyPassword(change.password, user.encrypted_password)) {
        throw new AuthApiError(422, "same_password", "New password should be different from the old password.");
      }
      passwordHash = await hashPassword(change.password);
    }
    let userMetadata: Record<string, unknown> | undefined;
    if (change.data !== undefined) {
      userMetadata = { ...user.raw_user_meta_data };
      for (const [k, v] of Object.entries(change.data)) {
        if (v === null) delete userMetadata[k];
        else userMetadata[k] = v;
      }
    }
    const updated = await this.store.updateUser(user.id, {
      ...(passwordHash !== undefined ? { passwordHash } : {}),
      ...(userMetadata !== undefined ? { userMetadata } : {}),
    });
    if (passwordHash !== undefined) await this.store.deleteSessions(user.id, sessionId, "others");
    if (!updated) throw new AuthApiError(404, "user_not_found", "User from sub claim in JWT does not exist");
    return userJson(updated);
  }

  /** Ends this session (local), every other one (others) or all of the user's (global). */
  async logout(token: string | null, scope: LogoutScope): Promise<void> {
    const { user, sessionId } = await this.userFromToken(token);
    await this.store.deleteSessions(
      user.id,
      sessionId,
      scope === "local" ? "this" : scope === "others" ? "others" : "all",
    );
  }

  private async startSession(userId: string): Promise<SessionJson> {
    const { user, sessionId, token } = await this.store.createSession(userId);
    return await this.sessionJson(user, sessionId, token);
  }

  private async sessionJson(user: UserRow, sessionId: string, refreshToken: string): Promise<SessionJson> {
    const iat = Math.floor(Date.now() / 1000);
    const exp = iat + this.settings.jwtExpiry;
    const access = await sign(this.key, {
      aud: "authenticated",
      exp,
      iat,
      iss: "cave",
      sub: user.id,
      email: user.email,
      phone: "",
      app_metadata: user.raw_app_meta_data,
      user_metadata: user.raw_user_meta_data,
      role: "authenticated",
      aal: "aal1",
      amr: [{ method: "password", timestamp: iat }],
      session_id: sessionId,
      is_anonymous: false,
    });
    return {
      access_token: access,
      token_type: "bearer",
      expires_in: this.settings.jwtExpiry,
      expires_at: exp,
      refresh_token: refreshToken,
      user: userJson(user),
    };
  }
}
