// The request roles the row-level-security tests run statements as (Engine.query's options):
// two users, anon and the service role, as the data API would pass them from verified JWTs.
import type { AuthContext } from "../../src/db/types.ts";

export const ALICE = "11111111-1111-4111-8111-111111111111";
export const BOB = "22222222-2222-4222-8222-222222222222";

/** A signed-in user: role authenticated, `sub` their id. */
export const user = (sub: string): { auth: AuthContext } => ({
  auth: { role: "authenticated", claims: { sub, role: "authenticated" } },
});
export const alice = user(ALICE);
export const bob = user(BOB);
export const anon = { auth: { role: "anon", claims: { role: "anon" } } };
export const service = { auth: { role: "service_role", claims: { role: "service_role" } } };
