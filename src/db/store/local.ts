// The embedded transport: a libSQL file (or :memory:) through the `libsql` package's
// synchronous API, the only file that imports it. The async @libsql/client costs 4–5× on
// small statements (docs/design: 10k point selects 128–342 ms vs 33–60 ms), so the
// default path stays synchronous; `execute` is async only to share the Store interface.
//
// Settings, fixed at open:
// - journal_mode=WAL: readers never block the writer, and a crash leaves a log to replay.
// - synchronous=FULL: every COMMIT is fsynced in WAL mode too (NORMAL may lose the last
//   transactions on power loss). Durability over speed, deliberately: a commit cave
//   acknowledged must survive `kill -9` and power failure.
// - busy_timeout: a second process writing waits up to BUSY_TIMEOUT_MS instead of failing
//   at once with SQLITE_BUSY.
// - foreign_keys=ON: Postgres always enforces REFERENCES.
//
// Values: INTEGER columns come back as numbers while they are safe integers and as bigint
// past 2^53 (never rounded); BLOBs as Uint8Array; REAL as number; TEXT as string.
import Database from "libsql";
import type { Store, StoreResult, StoreValue } from "./types.ts";
import { toStoreError, StoreError } from "./errors.ts";

export const BUSY_TIMEOUT_MS = 5000;
/** Prepared statements kept per connection, by SQL text; the pipeline emits few distinct texts. */
const STATEMENT_CACHE_SIZE = 512;

/** A result column as libsql describes it (both of its APIs). */
export interface Column {
  name: string;
  type: string | null;
}

/** The slice of libsql's Statement that this file uses (its own types say `any`). */
interface Statement {
  readonly reader: boolean;
  raw(on?: boolean): Statement;
  safeIntegers(on?: boolean): Statement;
  columns(): Column[];
  all(params: readonly StoreValue[]): unknown[][];
  get(params: readonly StoreValue[]): unknown[] | undefined;
  run(params: readonly StoreValue[]): { changes: number; lastInsertRowid: number | bigint };
}

interface Prepared {
  stmt: Statement;
  reader: boolean;
  /** INSERT/UPDATE/DELETE … RETURNING: the rows returned are the rows affected. */
  dml: boolean;
  /** INSERT or REPLACE: the only statements whose lastInsertRowid means anything. */
  insert: boolean;
  /** SQLite's program returns at most one row (a lookup by rowid or unique key): read it with get(). */
  single: boolean;
  /** Not run yet: the first run takes the general path. */
  first: boolean;
  /** Whether `single` was decided: on a statement's second run, so one-off statements never pay for EXPLAIN. */
  classified: boolean;
  /** DDL or ROLLBACK: the schema may differ afterwards. */
  schemaChange: boolean;
  columns: string[];
  columnTypes: string[];
}

export const DML = /^\s*(?:insert|update|delete|replace)\b/i;
export const DDL = /^\s*(?:create|drop|alter|rollback)\b/i;
/** INSERT or REPLACE: the only statements whose last rowid means anything. */
export const INSERT = /^\s*(?:insert|replace)\b/i;
/** Transaction ends that a BUSY error leaves pending: re-stepping one could commit. */
const TX_END = /^\s*(?:commit|end|release)\b/i;

/** VDBE opcodes that repeat the body of a program: their presence means "maybe many rows". */
const LOOPS = new Set([
  "Next",
  "Prev",
  "VNext",
  "VFilter",
  "SorterNext",
  "SorterSort",
  "Sort",
  "Rewind",
  "Last",
  "Yield",
  "InitCoroutine",
  "EndCoroutine",
  "Gosub",
  "Return",
  "RowSetNext",
  "RowSetRead",
  "Program",
  "SeekScan",
  // Conditional jumps that LIMIT/OFFSET counters and merged compound selects use; they only
  // jump forward in the programs seen, but a false "one row" would lose rows, so stay safe.
  "Jump",
  "IfPos",
  "IfNotZero",
  "DecrJumpZero",
]);

function bigOrNumber(v: bigint): number | bigint {
  return v >= -9007199254740991n && v <= 9007199254740991n ? Number(v) : v;
}

/** Rows read with safeIntegers: integers that fit a double become numbers, in place. */
export function narrowIntegers(rows: unknown[][]): void {
  for (const row of rows) {
    for (let i = 0; i < row.length; i++) {
      const v = row[i];
      if (typeof v === "bigint") row[i] = bigOrNumber(v);
    }
  }
}

export class LocalStore implements Store {
  readonly url: string;
  readonly path: string;
  private db: Database.Database | null;
  private readonly cache = new Map<string, Prepared>();

  /**
   * `path` is a filesystem path or ":memory:"; the directory must exist.
   * `yieldOnBusy` (for servers): a write that finds another connection's write lock waits
   * with timers instead of SQLite's busy handler, which sleeps on the calling thread: in a
   * server that is the event loop, and the connection holding the lock (a transaction of POST
   * /query on libsql's thread pool, whose COMMIT is JavaScript's to send) could never finish:
   * both waited out the busy timeout (measured: signups failing after 5 s each, 40 s stalls).
   */
  private readonly yieldOnBusy: boolean;

  constructor(path: string, opts: { yieldOnBusy?: boolean } = {}) {
    this.yieldOnBusy = opts.yieldOnBusy === true;
    this.path = path;
    this.url = path === ":memory:" ? ":memory:" : `file:${path}`;
    try {
      this.db = new Database(path);
    } catch (e) {
      throw openError(e, path);
    }
    try {
      this.pragma(`busy_timeout = ${this.yieldOnBusy ? 0 : BUSY_TIMEOUT_MS}`);
      if (path !== ":memory:") {
        const mode = this.pragma("journal_mode = WAL");
        if (String(mode[0]?.[0]).toLowerCase() !== "wal") {
          throw new StoreError(
            "SQLITE_CANTOPEN",
            `${path}: cannot switch the database to WAL mode (got ${String(mode[0]?.[0])})`,
          );
        }
      }
      this.pragma("synchronous = FULL");
      this.pragma("foreign_keys = ON");
    } catch (e) {
      this.close();
      throw withPath(toStoreError(e), path);
    }
  }

  /** Runs a PRAGMA outside the statement cache and returns its rows. */
  pragma(text: string): unknown[][] {
    const db = this.open();
    try {
      const stmt = db.prepare(`PRAGMA ${text}`) as unknown as Statement;
      if (stmt.reader) return stmt.raw(true).all([]);
      stmt.run([]);
      return [];
    } catch (e) {
      throw toStoreError(e);
    }
  }

  async execute(sql: string, params: readonly StoreValue[]): Promise<StoreResult> {
    if (!this.yieldOnBusy) return this.executeSync(sql, params);
    // SQLITE_BUSY (the lock is taken; nothing of the statement ran) is retried after a timer,
    // backing off to 20 ms, for as long as the busy timeout would have waited. BUSY_SNAPSHOT
    // (this transaction read before another's commit) cannot succeed by waiting: it goes up.
    const deadline = performance.now() + BUSY_TIMEOUT_MS;
    for (let wait = 1; ; wait = Math.min(wait * 2, 20)) {
      try {
        return this.executeSync(sql, params);
      } catch (e) {
        if (!(e instanceof StoreError) || e.sqliteCode !== "SQLITE_BUSY" || performance.now() + wait > deadline) throw e;
        await Bun.sleep(wait);
      }
    }
  }

  /** The synchronous core of `execute`, for callers that can use it (bench, migrations). */
  executeSync(sql: string, params: readonly StoreValue[]): StoreResult {
    const p = this.prepared(sql);
    try {
      if (p.reader) {
        let rows: unknown[][];
        if (!p.classified && !p.first) this.classify(p, sql);
        p.first = false;
        if (p.single) {
          const row = p.stmt.get(params);
          rows = row === undefined ? [] : [row];
        } else {
          rows = p.stmt.all(params);
        }
        // A cached SELECT * sees new columns after ALTER TABLE: SQLite re-prepares it, so
        // refresh the names when the width changed.
        if (rows.length > 0 && rows[0]?.length !== p.columns.length) describe(p);
        narrowIntegers(rows);
        return {
          columns: p.columns,
          columnTypes: p.columnTypes,
          rows,
          rowsAffected: p.dml ? rows.length : 0,
          lastInsertRowid: null,
        };
      }
      const info = p.stmt.run(params);
      // A schema change (or the rollback of one) can turn a one-row program into a loop when
      // SQLite re-prepares it: forget every classification. Schema changes by another process
      // are not seen here (docs/operations.md): that would cost a schema_version read, a
      // second read transaction, on every statement.
      if (p.schemaChange) this.cache.clear();
      return {
        columns: [],
        columnTypes: [],
        rows: [],
        rowsAffected: info.changes,
        // SQLite's last_insert_rowid() is the connection's, not the statement's: only an
        // INSERT that inserted a row reports it.
        lastInsertRowid:
          !p.insert || info.changes === 0
            ? null
            : typeof info.lastInsertRowid === "bigint"
              ? info.lastInsertRowid
              : BigInt(info.lastInsertRowid),
      };
    } catch (e) {
      const err = toStoreError(e);
      if (err.primaryCode === "SQLITE_BUSY" || err.primaryCode === "SQLITE_LOCKED") this.unstick(sql, p);
      throw err;
    }
  }

  /**
   * Releases a statement that failed with SQLITE_BUSY (or _LOCKED). SQLite leaves such a
   * statement running, parked on the opcode that failed so that a retry resumes there, and
   * libsql never resets a statement after an error (0.5.29 has no reset()/finalize()). While
   * it runs it counts as an active reader, so every transaction the connection ends after it
   * (the ROLLBACK after a lost BUSY_SNAPSHOT race, and every later autocommit read) keeps its
   * read snapshot: the connection stops seeing other connections' commits, and running the
   * same write again fails once more with SQLITE_BUSY_SNAPSHOT.
   * Measured with libsql 0.5.29: evicting the statement from the cache does not release it
   * (the native statement lives until GC, even after Bun.gc(true)); stmt.interrupt() does
   * not; iterate() without next() is no cheap reset (libsql steps in query(), so it re-ran the
   * write). Reopening the connection would drop per-connection settings (the engine's
   * case_sensitive_like) and an open transaction. The only reset libsql offers is the one at
   * the start of run(), which then steps the statement again; under PRAGMA query_only that
   * step cannot write: a write stops at its first opcode with SQLITE_READONLY (a statement
   * error: an open transaction stays open), a read reads and get() resets it. The statement
   * also leaves the cache, so nothing resumes it with stale parameters if that fails.
   * COMMIT/END/RELEASE are left alone: re-stepped they could commit, and they read no table,
   * so they pin nothing. Tests: tests/integration/db-store/busy-snapshot.test.ts.
   */
  private unstick(sql: string, p: Prepared): void {
    if (this.cache.get(sql) === p) this.cache.delete(sql);
    if (TX_END.test(sql) || !this.db) return;
    let queryOnly: unknown;
    try {
      queryOnly = this.pragma("query_only")[0]?.[0];
      this.pragma("query_only = ON");
      try {
        p.stmt.run([]);
        if (p.reader) p.stmt.get([]);
      } catch {
        // SQLITE_READONLY for a write: the step that reset it was all that was wanted.
      }
    } catch {
      // Best effort: the caller gets the original error either way.
    } finally {
      if (queryOnly !== undefined && Number(queryOnly) === 0) this.pragma("query_only = OFF");
    }
  }

  /** Whether execute() reads `sql` with one native get() (see atMostOneRow); for tests and diagnostics. */
  readsOneRow(sql: string): boolean {
    const p = this.prepared(sql);
    if (p.reader && !p.classified) this.classify(p, sql);
    return p.single;
  }

  inTransaction(): boolean {
    return this.open().inTransaction;
  }

  async checkpoint(): Promise<{ busy: number; log: number; checkpointed: number }> {
    if (this.path === ":memory:") return { busy: 0, log: 0, checkpointed: 0 };
    // TRUNCATE reports 0 pages once it has emptied the log, so a PASSIVE pass first counts
    // the log's pages (and already copies what no reader needs).
    const counts = (mode: string) => {
      const [busy = 0, log = 0, done = 0] = (this.pragma(`wal_checkpoint(${mode})`)[0] ?? []).map((v) => Number(v));
      return { busy, log, done };
    };
    const passive = counts("PASSIVE");
    const truncate = counts("TRUNCATE");
    return {
      busy: truncate.busy,
      log: passive.log,
      checkpointed: truncate.busy === 0 ? passive.log : passive.done,
    };
  }

  async backup(path: string): Promise<void> {
    // VACUUM INTO reads one snapshot inside a read transaction: online (writers go on)
    // and consistent (the copy is one committed state). It refuses an existing file.
    try {
      this.open().prepare("VACUUM INTO ?1").run([path]);
    } catch (e) {
      throw toStoreError(e);
    }
  }

  close(): void {
    this.cache.clear();
    if (this.db) {
      const db = this.db;
      this.db = null;
      try {
        db.close();
      } catch (e) {
        throw toStoreError(e);
      }
    }
  }

  private open(): Database.Database {
    if (!this.db) throw new StoreError("SQLITE_MISUSE", "the database connection is closed");
    return this.db;
  }

  /**
   * Decides `single`. A statement switching to get() is prepared afresh: libsql's first get()
   * on a statement that ran all() before returns that run's row, ignoring the new parameters
   * (tested: "a statement run with changing parameters").
   */
  private classify(p: Prepared, sql: string): void {
    p.classified = true;
    p.single = !p.dml && this.atMostOneRow(sql);
    if (p.single && !p.first) {
      try {
        p.stmt = (this.open().prepare(sql) as unknown as Statement).raw(true).safeIntegers(true);
      } catch (e) {
        throw toStoreError(e);
      }
    }
  }

  /**
   * Whether SQLite's program for `sql` yields at most one row: exactly one ResultRow and no
   * opcode that loops over rows (cursor advances, sorters, coroutines, subroutines,
   * virtual tables). A point select by primary key or unique key qualifies. Reading such a
   * statement with get() is one native call instead of a row iterator: ~1.6× faster (bench/db).
   */
  private atMostOneRow(sql: string): boolean {
    let program: { addr: number; opcode: string; p2: number }[];
    try {
      const explain = this.open().prepare(`EXPLAIN ${sql}`) as unknown as Statement;
      program = explain.all([]) as unknown as { addr: number; opcode: string; p2: number }[];
      // libsql leaves an EXPLAIN statement un-reset after all(); while it counts as active,
      // the connection's next read transaction never ends and it stops seeing other
      // connections' commits (found by the schema-change test). get() resets it.
      explain.get([]);
    } catch {
      return false; // not explainable: take the general path
    }
    let results = 0;
    for (const op of program) {
      if (op.opcode === "ResultRow") results++;
      else if (LOOPS.has(op.opcode)) return false;
      // The program's last Goto jumps back to its start after Init; any other is control flow
      // that could repeat a ResultRow.
      else if (op.opcode === "Goto" && !(op.addr === program.length - 1 && op.p2 === 1)) return false;
    }
    return results === 1;
  }

  private prepared(sql: string): Prepared {
    const hit = this.cache.get(sql);
    // First in, first out: an LRU refresh costs two Map operations on every hit.
    if (hit) return hit;
    let stmt: Statement;
    try {
      stmt = this.open().prepare(sql) as unknown as Statement;
    } catch (e) {
      throw toStoreError(e);
    }
    const reader = stmt.reader;
    const dml = reader && DML.test(sql);
    const ddl = DDL.test(sql);
    const insert = INSERT.test(sql);
    const p: Prepared = {
      stmt,
      reader,
      dml,
      insert,
      single: false,
      classified: dml,
      first: true,
      schemaChange: ddl,
      columns: [],
      columnTypes: [],
    };
    if (reader) {
      stmt.raw(true).safeIntegers(true);
      describe(p);
    }
    // DDL and ROLLBACK run rarely and change what the cache knows: keep them out of it.
    if (!ddl) {
      this.cache.set(sql, p);
      if (this.cache.size > STATEMENT_CACHE_SIZE) {
        const oldest = this.cache.keys().next().value;
        if (oldest !== undefined) this.cache.delete(oldest);
      }
    }
    return p;
  }
}

function describe(p: Prepared): void {
  const cols = p.stmt.columns();
  p.columns = cols.map((c) => c.name);
  p.columnTypes = cols.map((c) => c.type ?? "");
}

/**
 * libsql's constructor throws a bare Error whose message ends in SQLite's result code
 * ("ConnectionFailed(\"Unable to open connection to local database /x.db: 14\")").
 */
function openError(e: unknown, path: string): StoreError {
  const raw = /:\s*(\d+)\D*$/.exec(e instanceof Error ? e.message : String(e))?.[1];
  if (raw === undefined) return withPath(toStoreError(e), path);
  const err = toStoreError({ message: "unable to open the database file", rawCode: Number(raw) });
  return new StoreError(err.sqliteCode, `${path}: unable to open the database file`, {
    rawCode: Number(raw),
    ...(err.hint ? { hint: err.hint } : {}),
    cause: e,
  });
}

function withPath(e: StoreError, path: string): StoreError {
  if (e.message.includes(path)) return e;
  return new StoreError(e.sqliteCode, `${path}: ${e.message}`, {
    ...(e.rawCode !== undefined ? { rawCode: e.rawCode } : {}),
    ...(e.hint ? { hint: e.hint } : {}),
    cause: e.cause,
  });
}
