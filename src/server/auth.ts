// Bearer-token auth for `cave serve`: one admin key, made at first start and shown once, kept
// only as a SHA-256 hash in the database (cave_api_keys); or given by the operator in
// CAVE_ADMIN_KEY, which is never stored. Roles, scopes and rotation come later.
import { timingSafeEqual } from "node:crypto";
import { CaveError } from "../core/errors.ts";
import type { SqlEngine } from "../db/types.ts";

const TABLE = `CREATE TABLE IF NOT EXISTS cave_api_keys (
  id text PRIMARY KEY,
  hash text NOT NULL,
  role text NOT NULL DEFAULT 'admin',
  created_at timestamptz NOT NULL DEFAULT now())`;

export function hashKey(key: string): Buffer {
  return Buffer.from(new Bun.CryptoHasher("sha256").update(key).digest());
}

function randomHex(bytes: number): string {
  return Array.from(crypto.getRandomValues(new Uint8Array(bytes)), (b) => b.toString(16).padStart(2, "0")).join("");
}

export interface Keys {
  /** The hashes a bearer token may match. */
  hashes: Buffer[];
  /** A key made just now: shown to the operator once, never again. */
  created?: string;
}

/** The admin key: CAVE_ADMIN_KEY if set, else those in the database, else a new one. */
export async function loadKeys(db: SqlEngine, env: Record<string, string | undefined> = process.env): Promise<Keys> {
  const given = env.CAVE_ADMIN_KEY;
  if (given !== undefined) {
    if (given.length < 16) {
      throw new CaveError("AUTH_KEY_WEAK", "CAVE_ADMIN_KEY is shorter than 16 characters", { hint: "use a long random key, e.g. openssl rand -hex 32" });
    }
    return { hashes: [hashKey(given)] };
  }
  await db.query(TABLE);
  const r = await db.query("SELECT hash FROM cave_api_keys WHERE role = 'admin'");
  if (r.rows.length > 0) return { hashes: r.rows.map((row) => Buffer.from(row[0] as string, "hex")) };
  const key = `cave_${randomHex(32)}`;
  await db.query("INSERT INTO cave_api_keys (id, hash) VALUES ($1, $2)", [randomHex(6), hashKey(key).toString("hex")]);
  return { hashes: [hashKey(key)], created: key };
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
