// A request's credentials as RequestAuth takes them (src/auth/types.ts).
import type { RequestCredentials } from "./types.ts";

/** The token of `Authorization: Bearer <token>` (scheme in any case); null when absent or another scheme. */
export function bearerToken(header: string | null): string | null {
  if (header === null) return null;
  const m = /^\s*bearer\s+(\S+)\s*$/i.exec(header);
  return m?.[1] ?? null;
}

/** The credentials of a request: its apikey header (or ?apikey=, as Supabase's gateway takes it) and Authorization. */
export function credentialsOf(req: Request, url: URL = new URL(req.url)): RequestCredentials {
  return {
    apikey: req.headers.get("apikey") ?? url.searchParams.get("apikey"),
    authorization: req.headers.get("authorization"),
  };
}
