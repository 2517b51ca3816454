// API keys of `cave serve`: issue, list, revoke, rotate, and authenticate a bearer token, with
// the keys in the embedded database (table cave_api_keys), so a restart changes nothing.
//
// What the HTTP layer calls (see docs/governance.md for the wiring):
//   const keys = await KeyStore.open(boxes.db, { rotationGraceMs, env: process.env });
//   const created = await keys.ensureAdmin();           // first start: a new admin key, shown once
//   const principal = await keys.authenticate(req.headers.get("authorization"));
//       → Principal { keyId, role, name, scope: { namespace, sandboxes } }
//       | throws CaveError AUTH_REQUIRED / AUTH_KEY_INVALID / AUTH_KEY_EXPIRED / AUTH_KEY_REVOKED
//   keys.issue(body) → IssuedKey, keys.list() → KeyInfo[], keys.revoke(id) → KeyInfo,
//   keys.rotate(id, { graceMs }) → RotatedKey          (/v1/keys; KEY_NOT_FOUND, KEY_STATE, BAD_REQUEST)
//   KeyStore.open(db, { onEvent }) tells webhooks and the audit log of key.issued/rotated/revoked.
//
// The secret is `cave_<id>_<43 base64url chars>`: 256 random bits after a 12-hex-digit id that is
// safe to log. The lookup is by id (primary key), then the SHA-256 of the whole secret is compared
// in constant time. A plain SHA-256 is enough here, unlike for passwords: the secret is 256 bits
// from the CSPRNG, so there is nothing to guess from a leaked hash and a slow hash (bcrypt,
// argon2) would only cost every request milliseconds. Keys made by earlier versions
// (`cave_<64 hex>`, no id inside) are marked `legacy` by the migration below and found by hash.
//
// The statements are constant SQLite SQL sent straight to the store, like sandboxes.ts's, so
// `cave keys …` never loads the WASM SQL parser; only the migration (once per data directory)
// goes through the engine, which records the columns' Postgres types for `cave db query`.
import { timingSafeEqual } from "node:crypto";
import {
  type IssuedKey,
  type IssueKeyBody,
  type KeyInfo,
  type KeyStatus,
  NAME_PATTERN,
  parseLongDuration,
  ROLES,
  type Role,
  type RotatedKey,
  SANDBOX_ID_PATTERN,
} from "../../schema/governance.ts";
import { CaveError, isCaveError } from "../core/errors.ts";
import type { Engine } from "../db/engine.ts";
import { toDbError } from "../db/exec/errors.ts";
import type { StoreValue } from "../db/store/types.ts";

export type { Role } from "../../schema/governance.ts";

/** Who is calling: what authorize() and the rate limiter look at. */
export interface Principal {
  /** The key's id (safe to log), or "env" for CAVE_ADMIN_KEY. */
  keyId: string;
  role: Role;
  name: string | null;
  scope: {
    /** namespace keys: their namespace; model-access keys: the namespace their reads are limited to, if any. */
    namespace: string | null;
    /** session keys: the sandbox ids they may use. */
    sandboxes: string[];
  };
}

export const DEFAULT_ROTATION_GRACE_MS = 24 * 3_600_000;
/** How often a key's last_used_at is written at most (a write per request would fsync per request). */
const LAST_USED_EVERY_MS = 60_000;
const MIN_ENV_KEY_LENGTH = 16;

const CREATE = `CREATE TABLE IF NOT EXISTS cave_api_keys (
  id text PRIMARY KEY,
  hash text NOT NULL,
  role text NOT NULL DEFAULT 'admin',
  created_at timestamptz NOT NULL DEFAULT now(),
  name text,
  namespace text,
  sandboxes jsonb,
  expires_at timestamptz,
  last_used_at timestamptz,
  revoked_at timestamptz,
  rotated_from text,
  rotated_to text,
  legacy boolean NOT NULL DEFAULT false)`;

/** Columns added to the table of earlier versions (id, hash, role, created_at). */
const ADDED = [
  "name text",
  "namespace text",
  "sandboxes jsonb",
  "expires_at timestamptz",
  "last_used_at timestamptz",
  "revoked_at timestamptz",
  "rotated_from text",
  "rotated_to text",
];

const COLUMNS =
  "id, hash, role, name, namespace, sandboxes, created_at, expires_at, last_used_at, revoked_at, rotated_from, rotated_to";
const SQL = {
  columns: `SELECT name FROM pragma_table_info('cave_api_keys')`,
  byId: `SELECT ${COLUMNS} FROM cave_api_keys WHERE id = ?1 AND legacy = 0`,
  anyById: `SELECT ${COLUMNS} FROM cave_api_keys WHERE id = ?1`,
  legacy: `SELECT ${COLUMNS} FROM cave_api_keys WHERE legacy = 1`,
  all: `SELECT ${COLUMNS} FROM cave_api_keys ORDER BY created_at, id`,
  admins: `SELECT count(*) FROM cave_api_keys WHERE role = 'admin'`,
  insert: `INSERT INTO cave_api_keys (id, hash, role, name, namespace, sandboxes, created_at, expires_at, rotated_from) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)`,
  revoke: `UPDATE cave_api_keys SET revoked_at = ?2 WHERE id = ?1 AND revoked_at IS NULL`,
  rotate: `UPDATE cave_api_keys SET rotated_to = ?2, expires_at = ?3 WHERE id = ?1 AND rotated_to IS NULL AND revoked_at IS NULL`,
  remove: `DELETE FROM cave_api_keys WHERE id = ?1`,
  used: `UPDATE cave_api_keys SET last_used_at = ?2 WHERE id = ?1`,
} as const;

type Row = unknown[];

interface StoredKey {
  id: string;
  hash: Buffer;
  role: Role;
  name: string | null;
  namespace: string | null;
  sandboxes: string[];
  createdAt: number;
  expiresAt: number | null;
  lastUsedAt: number | null;
  revokedAt: number | null;
  rotatedFrom: string | null;
  rotatedTo: string | null;
}

/** The database's timestamptz text ('YYYY-MM-DD HH:MM:SS.mmm+00', as now() writes it). */
export function toDbTime(ms: number): string {
  return new Date(ms).toISOString().replace("T", " ").replace("Z", "+00");
}
function fromDbTime(v: unknown): number | null {
  if (v === null || v === undefined) return null;
  const t = Date.parse(String(v).replace(" ", "T").replace(/\+00$/, "Z"));
  if (Number.isNaN(t))
    throw new CaveError("DB_CORRUPT", `cave_api_keys holds a time cave cannot read: ${JSON.stringify(v)}`);
  return t;
}
const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());

export function hashSecret(secret: string): Buffer {
  return Buffer.from(new Bun.CryptoHasher("sha256").update(secret).digest());
}

function randomHex(bytes: number): string {
  return Buffer.from(crypto.getRandomValues(new Uint8Array(bytes))).toString("hex");
}

const SECRET = /^cave_([0-9a-f]{12})_([A-Za-z0-9_-]{43})$/;
const BEARER = /^Bearer ([\x21-\x7e]+)$/;

function toStored(r: Row): StoredKey {
  const sandboxes = r[5] === null || r[5] === undefined ? [] : (JSON.parse(String(r[5])) as string[]);
  return {
    id: r[0] as string,
    hash: Buffer.from(r[1] as string, "hex"),
    role: r[2] as Role,
    name: (r[3] as string | null) ?? null,
    namespace: (r[4] as string | null) ?? null,
    sandboxes,
    createdAt: fromDbTime(r[6]) as number,
    expiresAt: fromDbTime(r[7]),
    lastUsedAt: fromDbTime(r[8]),
    revokedAt: fromDbTime(r[9]),
    rotatedFrom: (r[10] as string | null) ?? null,
    rotatedTo: (r[11] as string | null) ?? null,
  };
}

function statusOf(k: StoredKey, now: number): KeyStatus {
  if (k.revokedAt !== null) return "revoked";
  if (k.expiresAt !== null && now >= k.expiresAt) return "expired";
  return k.rotatedTo !== null ? "rotating" : "active";
}

function infoOf(k: StoredKey, now: number): KeyInfo {
  return {
    id: k.id,
    name: k.name,
    role: k.role,
    namespace: k.namespace,
    sandboxes: k.sandboxes,
    status: statusOf(k, now),
    createdAt: iso(k.createdAt) as string,
    expiresAt: iso(k.expiresAt),
    lastUsedAt: iso(k.lastUsedAt),
    revokedAt: iso(k.revokedAt),
    rotatedFrom: k.rotatedFrom,
    rotatedTo: k.rotatedTo,
  };
}

const invalidKey = () =>
  new CaveError("AUTH_KEY_INVALID", "the API key is not valid", {
    hint: "check the key; an admin lists keys with cave keys list",
  });

function badRequest(message: string, hint?: string): CaveError {
  return new CaveError("BAD_REQUEST", message, hint ? { hint } : {});
}

/** The role and scope a new key gets, checked: each role takes exactly the scope it uses. */
function checkedScope(body: IssueKeyBody): { role: Role; namespace: string | null; sandboxes: string[] } {
  const role = body.role;
  if (!(ROLES as readonly string[]).includes(role))
    throw badRequest(`unknown role ${JSON.stringify(role)}`, `use one of ${ROLES.join(", ")}`);
  const namespace = body.namespace ?? null;
  const sandboxes = [...new Set(body.sandboxes ?? [])];
  if (namespace !== null && !NAME_PATTERN.test(namespace))
    throw badRequest(`invalid namespace ${JSON.stringify(namespace)}`, "use 1–63 letters, digits, '_', '.' or '-'");
  for (const id of sandboxes) {
    if (!SANDBOX_ID_PATTERN.test(id))
      throw badRequest(
        `invalid sandbox id ${JSON.stringify(id)}`,
        "give sandbox ids (12 hex digits, cave ls shows them), not names: a name can be reused by another sandbox",
      );
  }
  if (role === "admin" && (namespace !== null || sandboxes.length > 0))
    throw badRequest("an admin key has no scope: it may do everything", "leave out namespace and sandboxes");
  if (role === "namespace" && namespace === null)
    throw badRequest("a namespace key needs its namespace", "give --namespace NS (namespace in the body)");
  if (role === "namespace" && sandboxes.length > 0)
    throw badRequest(
      "a namespace key covers its namespace's sandboxes; it takes no sandbox list",
      "leave out sandboxes, or issue a session key",
    );
  if (role === "session" && sandboxes.length === 0)
    throw badRequest("a session key needs the sandboxes it may use", "give --sandbox ID (sandboxes in the body)");
  if (role === "session" && namespace !== null)
    throw badRequest("a session key is scoped by its sandbox list, not a namespace", "leave out namespace");
  if (role === "model-access" && sandboxes.length > 0)
    throw badRequest("a model-access key takes no sandbox list", "leave out sandboxes");
  return { role, namespace, sandboxes };
}

export interface KeyStoreOptions {
  /** Where CAVE_ADMIN_KEY is read (default process.env). */
  env?: Record<string, string | undefined>;
  /** How long a rotated key stays valid by default (cave.yaml keys.rotation_grace; default 24 h). */
  rotationGraceMs?: number;
  /** Wall-clock milliseconds; tests of expiry pass a later time instead of sleeping. */
  now?: () => number;
  /** Told of every issue, rotation and revocation after it is stored (webhooks, the audit log). */
  onEvent?: (event: KeyEvent) => void;
}

/** A key operation, as the webhooks (WEBHOOK_EVENTS) and the audit log name it. Never carries a secret. */
export type KeyEvent =
  | { type: "key.issued"; key: KeyInfo }
  | { type: "key.rotated"; key: KeyInfo; previous: KeyInfo }
  | { type: "key.revoked"; key: KeyInfo };

export class KeyStore {
  /** Per key id: when this process last wrote its last_used_at. */
  private readonly usedWritten = new Map<string, number>();

  private constructor(
    private readonly db: Engine,
    private readonly envKeyHash: Buffer | null,
    readonly rotationGraceMs: number,
    private readonly now: () => number,
    private readonly onEvent: ((event: KeyEvent) => void) | undefined,
  ) {}

  private emit(event: KeyEvent): void {
    // A listener's failure must not undo or hide an operation that is already stored.
    try {
      this.onEvent?.(event);
    } catch {
      // the listener reports its own errors
    }
  }

  /** A key's listing without its secret. */
  private static withoutSecret({ key: _secret, ...info }: IssuedKey): KeyInfo {
    return info;
  }

  /** Opens the keys of the database `db` (the data directory's engine), migrating the table of earlier versions. */
  static async open(db: Engine, opts: KeyStoreOptions = {}): Promise<KeyStore> {
    const env = opts.env ?? process.env;
    const given = env.CAVE_ADMIN_KEY;
    if (given !== undefined && given.length < MIN_ENV_KEY_LENGTH) {
      throw new CaveError("AUTH_KEY_WEAK", `CAVE_ADMIN_KEY is shorter than ${MIN_ENV_KEY_LENGTH} characters`, {
        hint: "use a long random key, e.g. openssl rand -hex 32",
      });
    }
    const grace = opts.rotationGraceMs ?? DEFAULT_ROTATION_GRACE_MS;
    if (!Number.isFinite(grace) || grace < 0)
      throw new CaveError("CONFIG_INVALID", `invalid rotation grace ${grace} ms`, {
        hint: "set keys.rotation_grace to e.g. 24h, or 0",
      });
    await migrate(db);
    return new KeyStore(db, given === undefined ? null : hashSecret(given), grace, opts.now ?? Date.now, opts.onEvent);
  }

  private async sql(sql: string, params: readonly StoreValue[] = []): Promise<{ rows: Row[]; rowsAffected: number }> {
    try {
      return await this.db.store.execute(sql, params);
    } catch (e) {
      throw toDbError(e);
    }
  }

  private async find(id: string): Promise<StoredKey> {
    const row = (await this.sql(SQL.anyById, [id])).rows[0];
    if (!row)
      throw new CaveError("KEY_NOT_FOUND", `no API key ${JSON.stringify(id)}`, {
        hint: "list them with cave keys list",
      });
    return toStored(row);
  }

  private async insert(
    scope: { role: Role; namespace: string | null; sandboxes: string[] },
    name: string | null,
    expiresAt: number | null,
    rotatedFrom: string | null,
    now: number,
  ): Promise<IssuedKey> {
    const id = randomHex(6);
    const secret = `cave_${id}_${Buffer.from(crypto.getRandomValues(new Uint8Array(32))).toString("base64url")}`;
    await this.sql(SQL.insert, [
      id,
      hashSecret(secret).toString("hex"),
      scope.role,
      name,
      scope.namespace,
      JSON.stringify(scope.sandboxes),
      toDbTime(now),
      expiresAt === null ? null : toDbTime(expiresAt),
      rotatedFrom,
    ]);
    return { ...infoOf(await this.find(id), now), key: secret };
  }

  /** A new key; its secret is in the answer's `key` and nowhere else, ever. */
  async issue(body: IssueKeyBody): Promise<IssuedKey> {
    const scope = checkedScope(body);
    if (body.name !== undefined && !NAME_PATTERN.test(body.name))
      throw badRequest(`invalid key name ${JSON.stringify(body.name)}`, "use 1–63 letters, digits, '_', '.' or '-'");
    let lifetime: number | null = null;
    if (body.expires !== undefined) {
      const r = parseLongDuration(body.expires);
      if (typeof r === "string") throw badRequest(`expires: ${r}`);
      lifetime = r;
    }
    const now = this.now();
    const issued = await this.insert(scope, body.name ?? null, lifetime === null ? null : now + lifetime, null, now);
    this.emit({ type: "key.issued", key: KeyStore.withoutSecret(issued) });
    return issued;
  }

  async list(): Promise<KeyInfo[]> {
    const now = this.now();
    return (await this.sql(SQL.all)).rows.map((r) => infoOf(toStored(r), now));
  }

  async get(id: string): Promise<KeyInfo> {
    return infoOf(await this.find(id), this.now());
  }

  /** Refuses the key from now on. Revoking a revoked key changes nothing (its first revocation time stays). */
  async revoke(id: string): Promise<KeyInfo> {
    await this.find(id);
    const r = await this.sql(SQL.revoke, [id, toDbTime(this.now())]);
    const info = await this.get(id);
    if (r.rowsAffected === 1) this.emit({ type: "key.revoked", key: info });
    return info;
  }

  /**
   * Issues the key's successor (same role, scope and name; the same lifetime if it had one) and
   * keeps the old key valid until now + grace (never longer than it was anyway), then refused
   * with AUTH_KEY_EXPIRED. A revoked, expired or already rotated key cannot be rotated.
   */
  async rotate(id: string, opts: { graceMs?: number } = {}): Promise<RotatedKey> {
    const grace = opts.graceMs ?? this.rotationGraceMs;
    if (!Number.isFinite(grace) || grace < 0) throw badRequest(`invalid grace ${grace} ms`, "give e.g. 24h, 30m or 0");
    const now = this.now();
    const old = await this.find(id);
    const status = statusOf(old, now);
    if (status !== "active") {
      const why = status === "rotating" ? `was rotated already (to ${old.rotatedTo})` : `is ${status}`;
      throw new CaveError("KEY_STATE", `API key ${id} ${why}: only an active key can be rotated`, {
        hint:
          status === "rotating"
            ? `rotate its successor: cave keys rotate ${old.rotatedTo}`
            : "issue a new key: cave keys issue --role ROLE",
      });
    }
    const lifetime = old.expiresAt === null ? null : old.expiresAt - old.createdAt;
    const oldUntil = old.expiresAt === null ? now + grace : Math.min(old.expiresAt, now + grace);
    // No transaction: the server's requests share one connection, and another request's
    // statements would run inside it. The conditional UPDATE decides; a loser removes its successor.
    const next = await this.insert(
      { role: old.role, namespace: old.namespace, sandboxes: old.sandboxes },
      old.name,
      lifetime === null ? null : now + lifetime,
      old.id,
      now,
    );
    const r = await this.sql(SQL.rotate, [old.id, next.id, toDbTime(oldUntil)]);
    if (r.rowsAffected !== 1) {
      await this.sql(SQL.remove, [next.id]);
      throw new CaveError("KEY_STATE", `API key ${id} changed meanwhile (rotated or revoked by another process)`, {
        hint: "look at it with cave keys list",
      });
    }
    const previous = await this.get(old.id);
    this.emit({ type: "key.rotated", key: KeyStore.withoutSecret(next), previous });
    return { ...next, previous };
  }

  /**
   * The first start of `cave serve` on a data directory: makes an admin key when the table has
   * none and CAVE_ADMIN_KEY is not set, and returns its secret to show once. Never again after
   * that, even when every admin key is revoked: `cave keys issue --role admin` on the host is
   * the way back in, so a restart never prints a surprise key into a log.
   */
  async ensureAdmin(): Promise<string | undefined> {
    if (this.envKeyHash) return undefined;
    const n = Number((await this.sql(SQL.admins)).rows[0]?.[0] ?? 0);
    if (n > 0) return undefined;
    return (await this.issue({ role: "admin", name: "initial-admin" })).key;
  }

  /** The hashes of the admin keys usable now (src/server/auth.ts's interim check). */
  async adminHashes(): Promise<Buffer[]> {
    const now = this.now();
    return (await this.sql(SQL.all)).rows
      .map(toStored)
      .filter((k) => k.role === "admin" && (statusOf(k, now) === "active" || statusOf(k, now) === "rotating"))
      .map((k) => k.hash);
  }

  /**
   * Who sends `Authorization: Bearer <key>`. Throws AUTH_REQUIRED (no or malformed header),
   * AUTH_KEY_INVALID (unknown key), AUTH_KEY_REVOKED, or AUTH_KEY_EXPIRED (past its expiry,
   * or rotated and past the grace period). The state is told only to whoever holds the secret.
   */
  async authenticate(header: string | null | undefined): Promise<Principal> {
    const m = BEARER.exec(header ?? "");
    const secret = m?.[1];
    if (!secret)
      throw new CaveError("AUTH_REQUIRED", "a valid API key is required", { hint: "send Authorization: Bearer <key>" });
    const hash = hashSecret(secret);
    if (this.envKeyHash && timingSafeEqual(hash, this.envKeyHash)) {
      return { keyId: "env", role: "admin", name: "CAVE_ADMIN_KEY", scope: { namespace: null, sandboxes: [] } };
    }
    const key = await this.lookup(secret, hash);
    if (!key) throw invalidKey();
    const now = this.now();
    if (key.revokedAt !== null) {
      throw new CaveError("AUTH_KEY_REVOKED", `API key ${key.id} was revoked at ${iso(key.revokedAt)}`, {
        hint: "ask an admin for a new key",
      });
    }
    if (key.expiresAt !== null && now >= key.expiresAt) {
      if (key.rotatedTo !== null) {
        throw new CaveError(
          "AUTH_KEY_EXPIRED",
          `API key ${key.id} was rotated (to ${key.rotatedTo}) and its grace period ended at ${iso(key.expiresAt)}`,
          { hint: "use the key that replaced it" },
        );
      }
      throw new CaveError("AUTH_KEY_EXPIRED", `API key ${key.id} expired at ${iso(key.expiresAt)}`, {
        hint: "ask an admin for a new key (cave keys issue)",
      });
    }
    await this.touch(key.id, now);
    return {
      keyId: key.id,
      role: key.role,
      name: key.name,
      scope: { namespace: key.namespace, sandboxes: key.sandboxes },
    };
  }

  private async lookup(secret: string, hash: Buffer): Promise<StoredKey | null> {
    const m = SECRET.exec(secret);
    const candidates = m ? (await this.sql(SQL.byId, [m[1] as string])).rows : (await this.sql(SQL.legacy)).rows;
    let found: StoredKey | null = null;
    for (const row of candidates) {
      const k = toStored(row);
      if (k.hash.length === hash.length && timingSafeEqual(k.hash, hash)) found = k;
    }
    return found;
  }

  private async touch(id: string, now: number): Promise<void> {
    const last = this.usedWritten.get(id);
    if (last !== undefined && now - last < LAST_USED_EVERY_MS) return;
    this.usedWritten.set(id, now);
    try {
      await this.sql(SQL.used, [id, toDbTime(now)]);
    } catch (e) {
      // A busy database must not refuse a valid key: last_used_at is a hint for people.
      if (!(isCaveError(e) && /busy|locked/i.test(e.message))) throw e;
      this.usedWritten.delete(id);
    }
  }
}

/**
 * Brings cave_api_keys to this version's columns, once per data directory: creates it, or adds
 * the columns to the table of earlier versions and marks their rows `legacy` (their secrets have
 * no id inside, so they are found by hash). Under BEGIN IMMEDIATE, with the columns checked
 * again inside, so two processes starting together migrate once and no key issued by the first
 * is ever marked legacy by the second.
 */
async function migrate(db: Engine): Promise<void> {
  const columns = async () => new Set((await db.store.execute(SQL.columns, [])).rows.map((r) => String(r[0])));
  if ((await columns()).has("legacy")) return;
  try {
    await db.store.execute("BEGIN IMMEDIATE", []);
  } catch (e) {
    throw toDbError(e);
  }
  try {
    const present = await columns();
    if (present.size === 0) await db.query(CREATE);
    else if (!present.has("legacy")) {
      for (const col of ADDED) await db.query(`ALTER TABLE cave_api_keys ADD COLUMN IF NOT EXISTS ${col}`);
      await db.query("ALTER TABLE cave_api_keys ADD COLUMN IF NOT EXISTS legacy boolean NOT NULL DEFAULT false");
      await db.store.execute("UPDATE cave_api_keys SET legacy = 1", []);
    }
    await db.store.execute("COMMIT", []);
  } catch (e) {
    await db.store.execute("ROLLBACK", []).catch(() => {});
    throw isCaveError(e) ? e : toDbError(e);
  }
}
