// The embedded file through libsql's promise API, for SQL whose cost nobody bounds: the data
// API's POST /query, sent by any role it admits. libsql steps such a statement on its own
// thread pool, so the server's event loop goes on meanwhile, and a timer calls interrupt()
// (sqlite3_interrupt, safe from another thread) at the statement timeout: SQLITE_INTERRUPT,
// which the executor reports as 57014. Measured with libsql 0.5.29 under Bun: an endless
// recursive CTE stopped at the deadline (±1 ms) while a 10 ms timer kept firing.
//
// Everything else keeps the synchronous LocalStore (local.ts): a statement there is ~µs of
// native code with no thread hop, which is what the REST path's 10k requests/s need.
// Writes also run through the rows path here (all()), since run() is synchronous in the
// promise API; their changes and last rowid are read back with one more statement.
import Database from "libsql/promise";
import { StoreError, toStoreError } from "./errors.ts";
import { BUSY_TIMEOUT_MS, type Column, DDL, DML, INSERT, narrowIntegers } from "./local.ts";
import type { Store, StoreResult, StoreValue } from "./types.ts";

/** The slice of libsql/promise's Statement this file uses (its types say `any`). */
interface Statement {
  readonly reader: boolean;
  raw(on?: boolean): Statement;
  safeIntegers(on?: boolean): Statement;
  columns(): Column[];
  all(params: readonly StoreValue[]): Promise<unknown[][]>;
}

interface Connection {
  prepare(sql: string): Promise<Statement>;
  exec(sql: string): Promise<void>;
  interrupt(): void;
  close(): void;
  readonly inTransaction: boolean;
}

const STATEMENT_CACHE_SIZE = 256;

export class LocalAsyncStore implements Store {
  readonly url: string;
  private db: Connection | null;
  private readonly cache = new Map<string, Statement>();
  private counts: Statement | null = null;

  private constructor(
    readonly path: string,
    db: Connection,
    private readonly statementTimeoutMs: number,
  ) {
    this.url = `file:${path}`;
    this.db = db;
  }

  /** Opens `path` (WAL, synchronous=FULL, a busy timeout, foreign keys: as LocalStore). */
  static async open(path: string, opts: { statementTimeoutMs: number }): Promise<LocalAsyncStore> {
    let db: Connection;
    try {
      db = new (Database as unknown as new (path: string) => Connection)(path);
    } catch (e) {
      throw toStoreError(e);
    }
    try {
      await db.exec(`PRAGMA busy_timeout = ${BUSY_TIMEOUT_MS}`);
      await db.exec("PRAGMA journal_mode = WAL");
      await db.exec("PRAGMA synchronous = FULL");
      await db.exec("PRAGMA foreign_keys = ON");
    } catch (e) {
      db.close();
      throw toStoreError(e);
    }
    return new LocalAsyncStore(path, db, opts.statementTimeoutMs);
  }

  async execute(sql: string, params: readonly StoreValue[]): Promise<StoreResult> {
    const db = this.open();
    const stmt = await this.prepared(db, sql);
    // A write without RETURNING reports what it changed as a difference of total_changes():
    // changes() alone would repeat the last DML's count after a ROLLBACK or a CREATE.
    this.counts ??= (await db.prepare("SELECT total_changes(), last_insert_rowid()")).raw(true).safeIntegers(true);
    const before = stmt.reader ? null : (((await this.counts.all([]))[0] ?? [0n]) as [bigint])[0];
    const timer = setTimeout(() => db.interrupt(), this.statementTimeoutMs);
    try {
      const rows = await stmt.all(params);
      narrowIntegers(rows);
      if (stmt.reader) {
        const cols = stmt.columns();
        return {
          columns: cols.map((c) => c.name),
          columnTypes: cols.map((c) => c.type ?? ""),
          rows,
          rowsAffected: DML.test(sql) ? rows.length : 0,
          lastInsertRowid: null,
        };
      }
      // A write without RETURNING: what it changed, as LocalStore's run() reports it.
      const [total, rowid] = ((await this.counts.all([]))[0] ?? [0n, 0n]) as [bigint, bigint];
      const changes = total - (before ?? total);
      return {
        columns: [],
        columnTypes: [],
        rows: [],
        rowsAffected: Number(changes),
        lastInsertRowid: INSERT.test(sql) && changes > 0n ? rowid : null,
      };
    } catch (e) {
      throw toStoreError(e);
    } finally {
      clearTimeout(timer);
      if (DDL.test(sql)) this.cache.clear();
    }
  }

  inTransaction(): boolean {
    return this.open().inTransaction;
  }

  async checkpoint(): Promise<{ busy: number; log: number; checkpointed: number }> {
    throw new StoreError("SQLITE_MISUSE", "checkpoint belongs to the synchronous store (cave db checkpoint)");
  }

  async backup(_path: string): Promise<void> {
    throw new StoreError("SQLITE_MISUSE", "backup belongs to the synchronous store (cave db backup)");
  }

  close(): void {
    this.cache.clear();
    const db = this.db;
    this.db = null;
    db?.close();
  }

  private open(): Connection {
    if (!this.db) throw new StoreError("SQLITE_MISUSE", "the database connection is closed");
    return this.db;
  }

  private async prepared(db: Connection, sql: string): Promise<Statement> {
    const hit = this.cache.get(sql);
    if (hit) return hit;
    let stmt: Statement;
    try {
      stmt = await db.prepare(sql);
    } catch (e) {
      throw toStoreError(e);
    }
    // raw() is for statements that return rows; a write's all() returns none anyway.
    if (stmt.reader) stmt.raw(true);
    stmt.safeIntegers(true);
    if (!DDL.test(sql)) {
      this.cache.set(sql, stmt);
      if (this.cache.size > STATEMENT_CACHE_SIZE) {
        const oldest = this.cache.keys().next().value;
        if (oldest !== undefined) this.cache.delete(oldest);
      }
    }
    return stmt;
  }
}
