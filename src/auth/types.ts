// The contract between the auth service (src/auth/) and the servers that use it (src/server/):
// what a request's credentials resolve to. Implemented by src/auth/service.ts.
import type { AuthContext } from "../db/types.ts";

export type { AuthContext };

/** Why a request's credentials were refused; always answered with 401 and this code, nothing more. */
export type AuthFailure =
  | "missing_apikey" // no apikey header (and no bearer) on a data-API path
  | "invalid_jwt" // malformed, wrong signature, alg none, wrong audience
  | "expired_jwt"; // a valid signature whose exp has passed

export interface RequestCredentials {
  /** The `apikey` header: the anon or service-role key (a JWT). */
  apikey: string | null;
  /** The `Authorization` header, `Bearer <jwt>`: a user's access token, or a key again. */
  authorization: string | null;
}

/** What the data-API paths (/rest/v1, /query, /schema, /policy, later pgwire and realtime) need. */
export interface RequestAuth {
  /**
   * Verifies the request's JWT (the bearer token if present, else the apikey) and returns the
   * role and claims to run its statements with; throws an AuthError carrying an AuthFailure.
   */
  authenticate(creds: RequestCredentials): Promise<AuthContext>;
}
