// Bearer-token auth for `cave serve` until the server calls src/governance/keys.ts directly
// (KeyStore.authenticate, with roles and rate limits; docs/governance.md): the admin keys, kept
// by the KeyStore as SHA-256 hashes in cave_api_keys (made at first start and shown once), or
// CAVE_ADMIN_KEY, never stored. Keys issued, revoked or rotated while the server runs are
// seen after a restart.
import { timingSafeEqual } from "node:crypto";
import type { Engine } from "../db/engine.ts";
import { hashSecret, KeyStore } from "../governance/keys.ts";

export const hashKey = hashSecret;

export interface Keys {
  /** The hashes a bearer token may match. */
  hashes: Buffer[];
  /** A key made just now: shown to the operator once, never again. */
  created?: string;
  /** The keys themselves, for the server's wiring of roles and limits. */
  store?: KeyStore;
}

/** The admin key: CAVE_ADMIN_KEY if set, else the usable admin keys in the database, else a new one. */
export async function loadKeys(db: Engine, env: Record<string, string | undefined> = process.env): Promise<Keys> {
  const store = await KeyStore.open(db, { env });
  const given = env.CAVE_ADMIN_KEY;
  if (given !== undefined) return { hashes: [hashKey(given)], store };
  const created = await store.ensureAdmin();
  const hashes = await store.adminHashes();
  return { hashes, store, ...(created ? { created } : {}) };
}

/** Whether an Authorization header carries a known key (compared in constant time). */
export function authorized(header: string | null, keys: Keys): boolean {
  const m = /^Bearer ([\x21-\x7e]+)$/.exec(header ?? "");
  if (!m?.[1]) return false;
  const h = hashKey(m[1]);
  let ok = false;
  for (const k of keys.hashes) if (k.length === h.length && timingSafeEqual(k, h)) ok = true;
  return ok;
}
