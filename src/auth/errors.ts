// The auth service's two error types, and their one JSON shape on the wire: Supabase Auth's
// (GoTrue's) `{"code": <status>, "error_code": "…", "msg": "…"}`, which @supabase/auth-js reads
// (lib/fetch.js handleError: without an X-Supabase-Api-Version answer header it takes
// `error_code` and `msg`). jose's errors are turned into AuthError here and nowhere else.
import { errors as joseErrors } from "jose";
import { CaveError } from "../core/errors.ts";
import type { AuthFailure } from "./types.ts";

const FAILURE_MESSAGES: Record<AuthFailure, string> = {
  missing_apikey:
    "No API key found in request: send the anon or service-role key in the apikey header (`cave db keys` prints them)",
  invalid_jwt: "Invalid JWT: the token is malformed, not signed by this server's key, or names an unknown role",
  expired_jwt: "JWT expired: refresh the session (grant_type=refresh_token) or log in again",
};

/** A request's credentials were refused: always 401 with the failure code and nothing more. */
export class AuthError extends CaveError {
  readonly failure: AuthFailure;
  readonly status = 401;

  constructor(failure: AuthFailure, opts: { cause?: unknown } = {}) {
    super(`AUTH_${failure.toUpperCase()}`, FAILURE_MESSAGES[failure], opts);
    this.name = "AuthError";
    this.failure = failure;
  }
}

export function isAuthError(e: unknown): e is AuthError {
  return e instanceof AuthError;
}

/**
 * An answer of the auth endpoints other than a refused token: GoTrue's status and error_code
 * (weak_password, user_already_exists, invalid_credentials, refresh_token_already_used…).
 * `extra` adds fields GoTrue sends beside them (weak_password: { reasons }).
 */
export class AuthApiError extends CaveError {
  readonly status: number;
  readonly errorCode: string;
  readonly extra: Record<string, unknown>;
  /** Response headers that go with the answer (a 429's Retry-After and RateLimit). */
  readonly headers: Record<string, string>;

  constructor(
    status: number,
    errorCode: string,
    message: string,
    extra: Record<string, unknown> = {},
    headers: Record<string, string> = {},
  ) {
    super(`AUTH_${errorCode.toUpperCase()}`, message);
    this.name = "AuthApiError";
    this.status = status;
    this.errorCode = errorCode;
    this.extra = extra;
    this.headers = headers;
  }
}

export function isAuthApiError(e: unknown): e is AuthApiError {
  return e instanceof AuthApiError;
}

/** GoTrue's error body; `Response.json` of it is what every refused auth request gets. */
export function errorBody(e: AuthError | AuthApiError): Record<string, unknown> {
  if (e instanceof AuthError) return { code: 401, error_code: e.failure, msg: e.message };
  return { code: e.status, error_code: e.errorCode, msg: e.message, ...e.extra };
}

export function errorResponse(e: AuthError | AuthApiError): Response {
  const res = Response.json(errorBody(e), { status: e.status });
  if (e instanceof AuthApiError) for (const [k, val] of Object.entries(e.headers)) res.headers.set(k, val);
  if (e.status === 401) res.headers.set("www-authenticate", 'Bearer realm="cave", error="invalid_token"');
  return res;
}

/**
 * A verification failure as the AuthFailure it is. Whatever else an untrusted token makes jose
 * throw (a TypeError on a mangled header) is a refused token too: verification fails closed.
 */
export function fromJose(e: unknown): AuthError {
  if (e instanceof AuthError) return e;
  if (e instanceof joseErrors.JWTExpired) return new AuthError("expired_jwt", { cause: e });
  return new AuthError("invalid_jwt", { cause: e });
}
