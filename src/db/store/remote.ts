// The remote transport: a libSQL server (sqld, Turso) through @libsql/client, the only
// file that imports it. Store.execute takes one statement at a time, so a transaction the
// user opens with BEGIN becomes an interactive client.transaction(): every statement up to
// COMMIT or ROLLBACK runs on that one server-side stream, and ends it.
import { createClient, type Client, type InStatement, type ResultSet, type Transaction } from "@libsql/client";
import type { Store, StoreResult, StoreValue } from "./types.ts";
import { StoreError, toStoreError } from "./errors.ts";

/** BEGIN [DEFERRED|IMMEDIATE|EXCLUSIVE] [TRANSACTION]; START TRANSACTION is Postgres's spelling. */
const BEGIN = /^\s*(?:begin|start)\b(?:\s+(deferred|immediate|exclusive))?(?:\s+transaction)?\s*;?\s*$/i;
const COMMIT = /^\s*(?:commit|end)\b(?:\s+transaction)?\s*;?\s*$/i;
/** ROLLBACK alone ends the transaction; ROLLBACK TO [SAVEPOINT] x does not. */
const ROLLBACK = /^\s*rollback\b(?:\s+transaction)?\s*;?\s*$/i;
const DML = /^\s*(?:insert|update|delete|replace)\b/i;

function value(v: unknown): unknown {
  if (typeof v === "bigint") return v >= -9007199254740991n && v <= 9007199254740991n ? Number(v) : v;
  if (v instanceof ArrayBuffer) return new Uint8Array(v);
  return v;
}

function toResult(sql: string, rs: ResultSet): StoreResult {
  const width = rs.columns.length;
  const rows: unknown[][] = new Array(rs.rows.length);
  for (let r = 0; r < rs.rows.length; r++) {
    const src = rs.rows[r] as unknown as ArrayLike<unknown>;
    const row = new Array(width);
    for (let i = 0; i < width; i++) row[i] = value(src[i]);
    rows[r] = row;
  }
  const returning = width > 0;
  return {
    columns: [...rs.columns],
    columnTypes: rs.columnTypes.map((t) => t ?? ""),
    rows,
    rowsAffected: returning ? (DML.test(sql) ? rows.length : 0) : rs.rowsAffected,
    lastInsertRowid: returning ? null : (rs.lastInsertRowid ?? null),
  };
}

export class RemoteStore implements Store {
  readonly url: string;
  private client: Client | null;
  private tx: Transaction | null = null;

  /**
   * `url` is shown to people, so it must carry no credentials: the token travels apart.
   * A Client may be handed in (tests use @libsql/client over a `file:` URL, which takes the
   * same transaction path as a server).
   */
  constructor(url: string, opts: { authToken?: string; client?: Client } = {}) {
    this.url = url;
    try {
      this.client =
        opts.client ??
        createClient({ url, intMode: "bigint", ...(opts.authToken ? { authToken: opts.authToken } : {}) });
    } catch (e) {
      throw toStoreError(e);
    }
  }

  async execute(sql: string, params: readonly StoreValue[]): Promise<StoreResult> {
    const client = this.open();
    const stmt: InStatement = { sql, args: params as StoreValue[] };
    try {
      const begin = BEGIN.exec(sql);
      if (begin) {
        if (this.tx) throw new StoreError("SQLITE_ERROR", "cannot start a transaction within a transaction");
        const mode = begin[1]?.toLowerCase();
        this.tx = await client.transaction(mode === "immediate" || mode === "exclusive" ? "write" : "deferred");
        return empty();
      }
      if (this.tx && (COMMIT.test(sql) || ROLLBACK.test(sql))) {
        const tx = this.tx;
        this.tx = null;
        try {
          if (COMMIT.test(sql)) await tx.commit();
          else await tx.rollback();
        } finally {
          tx.close();
        }
        return empty();
      }
      if (this.tx) {
        const rs = await this.tx.execute(stmt);
        return toResult(sql, rs);
      }
      if (COMMIT.test(sql)) throw new StoreError("SQLITE_ERROR", "cannot commit - no transaction is active");
      if (ROLLBACK.test(sql)) throw new StoreError("SQLITE_ERROR", "cannot rollback - no transaction is active");
      return toResult(sql, await client.execute(stmt));
    } catch (e) {
      // A failed COMMIT leaves nothing open on the server; a failed statement inside a
      // transaction leaves it open, as in SQLite, until ROLLBACK.
      if (this.tx?.closed) this.tx = null;
      throw this.convert(e);
    }
  }

  /**
   * A SQLite error keeps its code; anything else from the client (refused connection, TLS,
   * HTTP 401, a stream the server closed) means the database could not be reached: it
   * becomes SQLITE_CANTOPEN and names the URL.
   */
  private convert(e: unknown): StoreError {
    if (e instanceof StoreError) return e;
    const { code, rawCode } = (e ?? {}) as { code?: unknown; rawCode?: unknown };
    if ((typeof code === "string" && code.startsWith("SQLITE_")) || typeof rawCode === "number") return toStoreError(e);
    const detail = typeof code === "string" && code !== "" ? ` (${code})` : "";
    let message = e instanceof Error ? e.message : String(e);
    // LibsqlError puts its code in front of the message; it goes at the end here.
    if (typeof code === "string" && message.startsWith(`${code}: `)) message = message.slice(code.length + 2);
    return new StoreError("SQLITE_CANTOPEN", `${this.url}: cannot reach the database server: ${message}${detail}`, {
      hint: "check the URL, that the server runs, and the token in CAVE_DB_AUTH_TOKEN",
      cause: e,
    });
  }

  inTransaction(): boolean {
    return this.tx !== null && !this.tx.closed;
  }

  async checkpoint(): Promise<{ busy: number; log: number; checkpointed: number }> {
    // The server owns its WAL; checkpointing is its business.
    return { busy: 0, log: 0, checkpointed: 0 };
  }

  async backup(path: string): Promise<void> {
    // The file is written where the database lives: on the server, for a remote URL.
    try {
      await this.open().execute({ sql: "VACUUM INTO ?", args: [path] });
    } catch (e) {
      throw this.convert(e);
    }
  }

  close(): void {
    this.tx?.close();
    this.tx = null;
    this.client?.close();
    this.client = null;
  }

  private open(): Client {
    if (!this.client) throw new StoreError("SQLITE_MISUSE", "the database connection is closed");
    return this.client;
  }
}

function empty(): StoreResult {
  return { columns: [], columnTypes: [], rows: [], rowsAffected: 0, lastInsertRowid: null };
}
