// Verifying a JWT into the AuthContext a request runs with. Only the configured algorithm is
// accepted (so `alg: none` and HS256-signed-with-the-ES256-public-key are refused by jose before
// any key is used), the signature and exp are checked (5 s of clock tolerance), and the role
// must be one of anon, authenticated, service_role. A verified token is cached by its exact text
// until its exp: the data API sees the same few tokens over and over.
import { jwtVerify } from "jose";
import type { AuthContext } from "../db/types.ts";
import { AuthError, fromJose } from "./errors.ts";
import type { SigningKey } from "./keys.ts";

export const ROLES = ["anon", "authenticated", "service_role"] as const;
export type Role = (typeof ROLES)[number];

export const CLOCK_TOLERANCE_SECONDS = 5;
/** Longer tokens are refused unparsed; GoTrue's are under 1.5 KiB. */
const MAX_TOKEN_LENGTH = 8192;
const JWT_SHAPE = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$/;

interface Cached {
  ctx: AuthContext;
  /** exp in ms plus the tolerance: past it the token answers expired_jwt without verifying. */
  until: number;
}

function deepFreeze<T>(x: T): T {
  if (x && typeof x === "object" && !Object.isFrozen(x)) {
    Object.freeze(x);
    for (const v of Object.values(x)) deepFreeze(v);
  }
  return x;
}

export class TokenVerifier {
  private readonly cache = new Map<string, Cached>();

  constructor(
    private readonly key: SigningKey,
    private readonly cacheLimit = 10_000,
  ) {}

  /** The token's role and claims (frozen: shared by every request that sends this token). */
  async verify(token: string): Promise<AuthContext> {
    const hit = this.cache.get(token);
    if (hit) {
      if (Date.now() <= hit.until) return hit.ctx;
      this.cache.delete(token);
      throw new AuthError("expired_jwt");
    }
    if (token.length > MAX_TOKEN_LENGTH || !JWT_SHAPE.test(token)) throw new AuthError("invalid_jwt");
    let payload: Record<string, unknown>;
    try {
      ({ payload } = await jwtVerify(token, this.key.verifyKey, {
        algorithms: [this.key.alg],
        clockTolerance: CLOCK_TOLERANCE_SECONDS,
        requiredClaims: ["exp"],
      }));
    } catch (e) {
      throw fromJose(e);
    }
    const role = payload.role;
    if (typeof role !== "string" || !(ROLES as readonly string[]).includes(role)) throw new AuthError("invalid_jwt");
    if (role === "authenticated") {
      // A user's token: it names the user and is meant for authenticated requests.
      const aud = payload.aud;
      const auds = Array.isArray(aud) ? aud : [aud];
      if (typeof payload.sub !== "string" || payload.sub === "" || !auds.includes("authenticated")) {
        throw new AuthError("invalid_jwt");
      }
    }
    const ctx = deepFreeze({ role, claims: payload });
    if (this.cache.size >= this.cacheLimit) {
      // Maps iterate in insertion order: drop the oldest entry.
      const oldest = this.cache.keys().next().value;
      if (oldest !== undefined) this.cache.delete(oldest);
    }
    this.cache.set(token, { ctx, until: (payload.exp as number) * 1000 + CLOCK_TOLERANCE_SECONDS * 1000 });
    return ctx;
  }
}
