// The auth service's settings: cave.yaml's `auth` section (schema/config.ts, already validated
// there) with CAVE_JWT_SECRET over it, checked once more here because the environment and
// programmatic callers bypass the file's schema.

import { type AuthConfig, type JwtAlgorithm, MIN_JWT_SECRET_LENGTH } from "../../schema/config.ts";
import { CaveError } from "../core/errors.ts";
import { parseDuration } from "../core/units.ts";

export type { AuthConfig, JwtAlgorithm };

export interface AuthSettings {
  algorithm: JwtAlgorithm;
  /** A secret given by the operator (HS256 only); absent: generated in the data directory. */
  secret?: { value: string; from: "CAVE_JWT_SECRET" | "cave.yaml auth.jwt_secret" | "config" };
  /** Access-token lifetime in seconds. */
  jwtExpiry: number;
  confirmEmail: boolean;
  passwordMinLength: number;
  /** Sign-ups and password logins per client address in RATE_WINDOW (5 min). */
  rateLimitSignIn: number;
  /** Refresh-token grants per client address in RATE_WINDOW. */
  rateLimitTokenRefresh: number;
}

/** The window of the sign-in limits: Supabase Auth counts its limits per 5 minutes too. */
export const AUTH_RATE_WINDOW_MS = 5 * 60_000;
/** Defaults in the order of Supabase Auth's published ones (30 sign-ins, 150 refreshes per 5 min per IP). */
export const DEFAULT_RATE_LIMIT_SIGN_IN = 30;
export const DEFAULT_RATE_LIMIT_TOKEN_REFRESH = 150;

export const DEFAULT_JWT_EXPIRY = 3600;
export const DEFAULT_PASSWORD_MIN_LENGTH = 6;

export function resolveAuthSettings(
  config: AuthConfig | undefined,
  env: Record<string, string | undefined> = process.env,
  configName: "cave.yaml auth.jwt_secret" | "config" = "cave.yaml auth.jwt_secret",
): AuthSettings {
  const c = config ?? {};
  const algorithm = c.jwt_algorithm ?? "HS256";
  let secret: AuthSettings["secret"];
  if (env.CAVE_JWT_SECRET !== undefined) secret = { value: env.CAVE_JWT_SECRET, from: "CAVE_JWT_SECRET" };
  else if (c.jwt_secret !== undefined) secret = { value: c.jwt_secret, from: configName };
  if (secret && secret.value.length < MIN_JWT_SECRET_LENGTH) {
    throw new CaveError(
      "AUTH_JWT_SECRET_WEAK",
      `${secret.from} has ${secret.value.length} characters; a JWT secret needs at least ${MIN_JWT_SECRET_LENGTH}`,
      {
        hint: "make one with `openssl rand -base64 32`, or unset it to let cave generate one in <data dir>/auth/jwt-secret",
      },
    );
  }
  const expiryMs =
    c.jwt_expiry === undefined ? DEFAULT_JWT_EXPIRY * 1000 : parseDuration(c.jwt_expiry, "CONFIG_INVALID");
  const jwtExpiry = Math.max(1, Math.round(expiryMs / 1000));
  const passwordMinLength = c.password_min_length ?? DEFAULT_PASSWORD_MIN_LENGTH;
  if (!Number.isInteger(passwordMinLength) || passwordMinLength < 1) {
    throw new CaveError(
      "CONFIG_INVALID",
      `auth.password_min_length must be a whole number of at least 1, not ${passwordMinLength}`,
    );
  }
  return {
    algorithm,
    ...(secret && algorithm === "HS256" ? { secret } : {}),
    jwtExpiry,
    confirmEmail: c.confirm_email ?? false,
    passwordMinLength,
    rateLimitSignIn: c.rate_limit_sign_in ?? DEFAULT_RATE_LIMIT_SIGN_IN,
    rateLimitTokenRefresh: c.rate_limit_token_refresh ?? DEFAULT_RATE_LIMIT_TOKEN_REFRESH,
  };
}
