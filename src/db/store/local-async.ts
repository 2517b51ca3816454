// The embedded file through libsql's promise API, for SQL whose cost nobody bounds: the data
// API's POST /query, sent by any role it admits. libsql steps such a statement on its own
// thread pool, so the server's event loop goes on meanwhile, and a timer calls interrupt()
// (sqlite3_interrupt, safe from another thread) at the statement timeout: SQLITE_INTERRUPT,
// which the executor reports as 57014. Measured with libsql 0.5.29 under Bun: an endless
// recursive CTE stopped at the deadline (±1 ms) while a 10 ms timer kept firing.
//
// No statement of the live connection may ever become garbage: libsql finalizes a statement
// from the JS thread's garbage collector, and sqlite3_finalize waits for the connection's mutex,
// which the pool thread holds for as long as a statement runs. A collection during an endless
// statement blocked the event loop before the interrupt's timer could fire: the server hung
// for good (one test run in three, with a process full of garbage). So every statement stays
// cached, and when the cache is full or a DDL has run, the next statement outside a transaction
// gets a fresh connection: the old one's statements are finalized against a mutex nobody holds.
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
  /** The cache is full or a DDL has run: renew the connection before the next statement. */
  private stale = false;

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
    return new LocalAsyncStore(path, await connect(path), opts.statementTimeoutMs);
  }

  async execute(sql: string, params: readonly StoreValue[]): Promise<StoreResult> {
    if (this.stale && !this.inTransaction()) await this.renew();
    const db = this.open();
    const stmt = await this.prepared(db, sql);
    // A write without RETURNING reports what it changed as a difference of total_changes():
    // changes() alone would repeat the last DML's count after a ROLLBACK or a CREATE.
    this.counts ??= (await db.prepare("SELECT total_changes(), last_insert_rowid()")).raw(true).safeIntegers(true);
    const before = stmt.reader ? null : (((await this.counts.all([]))[0] ?? [0n]) as [bigint])[0];
    const timer = interruptAfter(db, this.statementTimeoutMs);
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
      timer.cancel();
      // SQLite re-prepares the cached statements after a schema change; a fresh connection
      // still drops the ones that will not be used again (see the top of this file).
      if (DDL.test(sql)) this.stale = true;
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
    this.counts = null;
    const db = this.db;
    this.db = null;
    // A statement still running on the thread pool would hold the connection: stop it first.
    db?.interrupt();
    db?.close();
  }

  /** A fresh connection; the old one and its statements are left to the collector. */
  private async renew(): Promise<void> {
    const fresh = await connect(this.path);
    const old = this.db;
    this.db = fresh;
    this.cache.clear();
    this.counts = null;
    this.stale = false;
    old?.close();
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
    // Kept even past the limit (never dropped while the connection lives): renew() drops them all.
    this.cache.set(sql, stmt);
    if (this.cache.size >= STATEMENT_CACHE_SIZE) this.stale = true;
    return stmt;
  }
}

/** Opens `path` as LocalStore does: WAL, synchronous=FULL, a busy timeout, foreign keys. */
async function connect(path: string): Promise<Connection> {
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
  return db;
}

/** How often the interrupt is repeated once the statement timeout has passed. */
const REINTERRUPT_MS = 25;

/**
 * Interrupts the connection's statement at `ms`, and again every REINTERRUPT_MS until cancelled:
 * SQLite clears an interrupt when a statement takes its first step on an otherwise idle
 * connection, so one that lands before the pool has started the statement would be lost.
 */
function interruptAfter(db: Connection, ms: number): { cancel(): void } {
  let timer: ReturnType<typeof setTimeout> = setTimeout(function fire() {
    db.interrupt();
    timer = setTimeout(fire, REINTERRUPT_MS);
  }, ms);
  return { cancel: () => clearTimeout(timer) };
}
