// The auth service's tables and every statement on them, through its own engine connection as
// the database owner. cave_* tables are cave's own: the planner refuses them to request roles,
// so neither /rest/v1 nor /query can read a password hash or a refresh token.
//
// One connection means one transaction at a time: every use goes through `serial`, so two
// requests' BEGIN…COMMIT never interleave. Refresh tokens are stored as SHA-256 hashes (they are
// 256-bit random strings: a slow hash adds nothing); a token and its successors form a family,
// one per session.
import { isDbError } from "../db/errors.ts";
import type { QueryResult, SqlEngine } from "../db/types.ts";

const DDL = [
  `CREATE TABLE IF NOT EXISTS cave_auth_users (
    id uuid PRIMARY KEY,
    email text NOT NULL UNIQUE,
    encrypted_password text NOT NULL,
    email_confirmed_at timestamptz,
    last_sign_in_at timestamptz,
    raw_app_meta_data jsonb NOT NULL DEFAULT '{}',
    raw_user_meta_data jsonb NOT NULL DEFAULT '{}',
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now())`,
  `CREATE TABLE IF NOT EXISTS cave_auth_sessions (
    id uuid PRIMARY KEY,
    user_id uuid NOT NULL REFERENCES cave_auth_users (id) ON DELETE CASCADE,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now())`,
  "CREATE INDEX IF NOT EXISTS cave_auth_sessions_user_id ON cave_auth_sessions (user_id)",
  // session_id is no foreign key on purpose: a family revoked for reuse loses its session but
  // keeps its tokens, so presenting one of them again still answers "already used".
  `CREATE TABLE IF NOT EXISTS cave_auth_refresh_tokens (
    id bigserial PRIMARY KEY,
    token_hash text NOT NULL UNIQUE,
    session_id uuid NOT NULL,
    user_id uuid NOT NULL REFERENCES cave_auth_users (id) ON DELETE CASCADE,
    parent text,
    revoked boolean NOT NULL DEFAULT false,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now())`,
  "CREATE INDEX IF NOT EXISTS cave_auth_refresh_tokens_session_id ON cave_auth_refresh_tokens (session_id)",
];

export interface UserRow {
  id: string;
  email: string;
  encrypted_password: string;
  email_confirmed_at: string | null;
  last_sign_in_at: string | null;
  raw_app_meta_data: Record<string, unknown>;
  raw_user_meta_data: Record<string, unknown>;
  created_at: string;
  updated_at: string;
}

const USER_COLUMNS =
  "id, email, encrypted_password, email_confirmed_at, last_sign_in_at, raw_app_meta_data, raw_user_meta_data, created_at, updated_at";

function objects<T>(r: QueryResult): T[] {
  return r.rows.map((row) => Object.fromEntries(r.columns.map((c, i) => [c.name, row[i]])) as T);
}

export function hashToken(token: string): string {
  return new Bun.CryptoHasher("sha256").update(token).digest("hex");
}

/** 32 random bytes, base64url: what a client holds; only its hash is kept. */
export function newRefreshToken(): string {
  return Buffer.from(crypto.getRandomValues(new Uint8Array(32))).toString("base64url");
}

export type RefreshOutcome =
  | { kind: "rotated"; user: UserRow; sessionId: string; token: string }
  | { kind: "reused" }
  | { kind: "unknown" };

export class AuthStore {
  private queue: Promise<unknown> = Promise.resolve();

  constructor(private readonly db: SqlEngine) {}

  async init(): Promise<void> {
    for (const sql of DDL) await this.db.query(sql);
  }

  /** Runs `fn` once every earlier use has finished. */
  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.queue.then(fn, fn);
    this.queue = run.catch(() => undefined);
    return run;
  }

  private tx<T>(fn: () => Promise<T>): Promise<T> {
    return this.serial(async () => {
      await this.db.query("BEGIN");
      try {
        const r = await fn();
        await this.db.query("COMMIT");
        return r;
      } catch (e) {
        await this.db.query("ROLLBACK").catch(() => undefined);
        throw e;
      }
    });
  }

  private async userBy(column: "id" | "email", value: string): Promise<UserRow | null> {
    const sql =
      column === "id"
        ? `SELECT ${USER_COLUMNS} FROM cave_auth_users WHERE id = $1`
        : `SELECT ${USER_COLUMNS} FROM cave_auth_users WHERE email = $1`;
    return objects<UserRow>(await this.db.query(sql, [value]))[0] ?? null;
  }

  findUserByEmail(email: string): Promise<UserRow | null> {
    return this.serial(() => this.userBy("email", email));
  }

  findUser(id: string): Promise<UserRow | null> {
    return this.serial(() => this.userBy("id", id));
  }

  /** The new user, or null when the email is taken. */
  createUser(u: {
    email: string;
    passwordHash: string;
    confirmed: boolean;
    userMetadata: Record<string, unknown>;
  }): Promise<UserRow | null> {
    return this.serial(async () => {
      const now = new Date();
      try {
        const r = await this.db.query(
          `INSERT INTO cave_auth_users (id, email, encrypted_password, email_confirmed_at, raw_app_meta_data, raw_user_meta_data, created_at, updated_at)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $7) RETURNING ${USER_COLUMNS}`,
          [
            crypto.randomUUID(),
            u.email,
            u.passwordHash,
            u.confirmed ? now : null,
            { provider: "email", providers: ["email"] },
            u.userMetadata,
            now,
          ],
        );
        return objects<UserRow>(r)[0] ?? null;
      } catch (e) {
        if (isDbError(e) && e.sqlstate === "23505") return null;
        throw e;
      }
    });
  }

  /** A new session with its first refresh token; records the sign-in. */
  createSession(userId: string): Promise<{ user: UserRow; sessionId: string; token: string }> {
    return this.tx(async () => {
      const sessionId = crypto.randomUUID();
      const token = newRefreshToken();
      await this.db.query("INSERT INTO cave_auth_sessions (id, user_id) VALUES ($1, $2)", [sessionId, userId]);
      await this.db.query(
        "INSERT INTO cave_auth_refresh_tokens (token_hash, session_id, user_id) VALUES ($1, $2, $3)",
        [hashToken(token), sessionId, userId],
      );
      await this.db.query("UPDATE cave_auth_users SET last_sign_in_at = now(), updated_at = now() WHERE id = $1", [
        userId,
      ]);
      const user = await this.userBy("id", userId);
      if (!user) throw new Error(`user ${userId} vanished while signing in`);
      return { user, sessionId, token };
    });
  }

  /**
   * Rotates a refresh token: the presented one is revoked and its successor returned. A token
   * already revoked means it was copied: its whole family (session) is revoked.
   */
  refresh(token: string): Promise<RefreshOutcome> {
    const hash = hashToken(token);
    return this.tx(async (): Promise<RefreshOutcome> => {
      // A write first: the transaction takes the write lock at once, so two processes rotating
      // the same token cannot both see it unrevoked.
      const taken = objects<{ session_id: string; user_id: string }>(
        await this.db.query(
          "UPDATE cave_auth_refresh_tokens SET revoked = true, updated_at = now() WHERE token_hash = $1 AND revoked = false RETURNING session_id, user_id",
          [hash],
        ),
      )[0];
      if (!taken) {
        const known = objects<{ session_id: string }>(
          await this.db.query("SELECT session_id FROM cave_auth_refresh_tokens WHERE token_hash = $1", [hash]),
        )[0];
        if (!known) return { kind: "unknown" };
        await this.db.query(
          "UPDATE cave_auth_refresh_tokens SET revoked = true, updated_at = now() WHERE session_id = $1 AND revoked = false",
          [known.session_id],
        );
        await this.db.query("DELETE FROM cave_auth_sessions WHERE id = $1", [known.session_id]);
        return { kind: "reused" };
      }
      const session = await this.db.query("SELECT id FROM cave_auth_sessions WHERE id = $1", [taken.session_id]);
      const user = await this.userBy("id", taken.user_id);
      if (session.rows.length === 0 || !user) return { kind: "unknown" };
      const next = newRefreshToken();
      await this.db.query(
        "INSERT INTO cave_auth_refresh_tokens (token_hash, session_id, user_id, parent) VALUES ($1, $2, $3, $4)",
        [hashToken(next), taken.session_id, taken.user_id, hash],
      );
      await this.db.query("UPDATE cave_auth_sessions SET updated_at = now() WHERE id = $1", [taken.session_id]);
      return { kind: "rotated", user, sessionId: taken.session_id, token: next };
    });
  }

  sessionExists(sessionId: string, userId: string): Promise<boolean> {
    return this.serial(async () => {
      const r = await this.db.query("SELECT 1 FROM cave_auth_sessions WHERE id = $1 AND user_id = $2", [
        sessionId,
        userId,
      ]);
      return r.rows.length > 0;
    });
  }

  /** Ends sessions of a user: only `sessionId`, all but it, or all; their refresh tokens go with them. */
  deleteSessions(userId: string, sessionId: string, which: "this" | "others" | "all"): Promise<number> {
    const [tokens, sessions, params] =
      which === "this"
        ? [
            "DELETE FROM cave_auth_refresh_tokens WHERE user_id = $1 AND session_id = $2",
            "DELETE FROM cave_auth_sessions WHERE user_id = $1 AND id = $2",
            [userId, sessionId],
          ]
        : which === "others"
          ? [
              "DELETE FROM cave_auth_refresh_tokens WHERE user_id = $1 AND session_id <> $2",
              "DELETE FROM cave_auth_sessions WHERE user_id = $1 AND id <> $2",
              [userId, sessionId],
            ]
          : [
              "DELETE FROM cave_auth_refresh_tokens WHERE user_id = $1",
              "DELETE FROM cave_auth_sessions WHERE user_id = $1",
              [userId],
            ];
    return this.tx(async () => {
      await this.db.query(tokens, params);
      return (await this.db.query(sessions, params)).rowCount;
    });
  }

  /** Sets the password hash and/or replaces the user metadata; the updated user. */
  updateUser(
    userId: string,
    change: { passwordHash?: string; userMetadata?: Record<string, unknown> },
  ): Promise<UserRow | null> {
    return this.tx(async () => {
      if (change.passwordHash !== undefined) {
        await this.db.query("UPDATE cave_auth_users SET encrypted_password = $2, updated_at = now() WHERE id = $1", [
          userId,
          change.passwordHash,
        ]);
      }
      if (change.userMetadata !== undefined) {
        await this.db.query("UPDATE cave_auth_users SET raw_user_meta_data = $2, updated_at = now() WHERE id = $1", [
          userId,
          change.userMetadata,
        ]);
      }
      return await this.userBy("id", userId);
    });
  }
}
