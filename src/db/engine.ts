// The SQL engine: text → parse (WASM, loaded on first use) → plan (names resolved against
// the cached catalog) → emit (SQLite SQL + bound values) → execute on the store → typed rows.
// Every statement takes this path; nothing the user sends reaches libSQL as written.
import { type Catalog, ensureCatalogTable, loadCatalog } from "./catalog/catalog.ts";
import type { EmittedSql } from "./emit/emitted.ts";
import { emitDdl, emitDml } from "./emit/statement.ts";
import { DbError, SQLSTATE } from "./errors.ts";
import { type Converter, converterFor, convertRows } from "./exec/convert.ts";
import { toDbError } from "./exec/errors.ts";
import { type AuthValues, checkParamCount, OWNER_AUTH, requiredParams, run } from "./exec/execute.ts";
import type { Ast, Loc } from "./parse/ast.ts";
import { parseSql } from "./parse/parser.ts";
import { explainTree } from "./plan/ops/index.ts";
import { type Plan, planStatement } from "./plan/plan.ts";
import { INSUFFICIENT_PRIVILEGE, VIOLATION_PATTERN } from "./plan/rls.ts";
import type { Store, StoreResult } from "./store/types.ts";
import type { AuthContext, QueryOptions, QueryResult, SqlEngine } from "./types.ts";

/** A planned and emitted statement, reusable while the catalog version is unchanged. */
interface Prepared {
  version: number;
  plan: Plan;
  emitted: EmittedSql[];
  required: number;
  /** Where each $n first appears, for "there is no parameter $n". */
  paramPositions: number[];
  converters: Converter[];
  /** Messages of the row-level-security checks the statement may raise. */
  violations: string[];
  /** A hidden last RETURNING column carries the WITH CHECK result. */
  checked: boolean;
}

/** The values auth.uid(), auth.role(), auth.jwt() take for a request (Supabase's functions). */
function authValues(auth: AuthContext | undefined): AuthValues {
  if (!auth) return OWNER_AUTH;
  const claims = auth.claims ?? {};
  return { uid: typeof claims.sub === "string" ? claims.sub : null, role: auth.role, jwt: JSON.stringify(claims) };
}

const CACHE_LIMIT = 2000;

function ddlCommand(plan: Plan): string {
  switch (plan.kind) {
    case "create_table":
      return "CREATE TABLE";
    case "truncate":
      return "TRUNCATE TABLE";
    case "create_index":
      return "CREATE INDEX";
    case "create_view":
      return "CREATE VIEW";
    case "drop":
      return `DROP ${plan.object.toUpperCase()}`;
    case "alter_table":
      return "ALTER TABLE";
    case "objects":
      return plan.command;
    default:
      return "";
  }
}

function explainLines(plan: Plan): string[] {
  switch (plan.kind) {
    case "query":
    case "insert":
    case "update":
    case "delete":
      return explainTree(plan.op);
    case "create_table":
      return [
        `Create Table ${plan.table} (${plan.columns.map((c) => `${c.name} ${c.type}`).join(", ")})`,
        ...(plan.asQuery ? explainTree(plan.asQuery, 1) : []),
      ];
    case "truncate":
      return [`Truncate ${plan.tables.join(", ")}`];
    case "create_index":
      return [`Create Index ${plan.name} on ${plan.table}`];
    case "create_view":
      return [`Create View ${plan.name}`, ...explainTree(plan.query, 1)];
    case "drop":
      return [`Drop ${plan.object} ${plan.names.join(", ")}`];
    case "alter_table":
      return [`Alter Table ${plan.table} (${plan.actions.map((a) => a.action).join(", ")})`];
    case "objects":
      return [plan.command];
    case "tx":
    case "explain":
    case "noop":
    case "show":
      return [];
  }
}

export class Engine implements SqlEngine {
  private catalog: Catalog | null = null;
  private version = 0;
  /** The database's catalog generation (PRAGMA user_version) the cached catalog was checked against. */
  private generation: number | null = null;
  private readonly cache = new Map<string, Prepared>();
  /** Postgres's aborted-transaction state: after an error, only ROLLBACK ends the block. */
  private failed = false;
  private closed = false;

  private constructor(readonly store: Store) {}

  static async open(store: Store): Promise<Engine> {
    try {
      await store.execute("PRAGMA foreign_keys = ON", []);
      await store.execute("PRAGMA case_sensitive_like = ON", []);
      await ensureCatalogTable(store);
    } catch (e) {
      throw toDbError(e);
    }
    return new Engine(store);
  }

  /** The catalog version plans are cached against; bumped by every DDL and rollback. */
  get catalogVersion(): number {
    return this.version;
  }

  private async currentCatalog(): Promise<Catalog> {
    if (!this.catalog) this.catalog = await loadCatalog(this.store, this.version);
    return this.catalog;
  }

  private invalidate(): void {
    this.version++;
    this.catalog = null;
  }

  /**
   * Forgets the cached catalog and plans when another connection has changed the catalog since
   * (a policy, RLS, a function, any DDL): every DDL of cave bumps the database's catalog
   * generation, SQLite's user_version. Without this, a long-lived connection (cave serve's)
   * went on planning with policies another connection had dropped or narrowed.
   * One PRAGMA (~4 µs): call it at the start of a unit of work (a request), not per statement.
   * Inside a transaction block the catalog cannot move under it, so it does nothing there.
   */
  async syncCatalog(): Promise<void> {
    if (this.closed || this.store.inTransaction()) return;
    const generation = await this.readGeneration();
    if (generation === this.generation) return;
    this.invalidate();
    this.generation = generation;
  }

  private async readGeneration(): Promise<number> {
    return Number((await this.store.execute("PRAGMA user_version", [])).rows[0]?.[0] ?? 0);
  }

  /** Bumps the catalog generation inside the DDL's transaction (see syncCatalog). */
  private async bumpGeneration(): Promise<number> {
    // user_version is a signed 32-bit integer; wrapping keeps it changing
    const next = ((await this.readGeneration()) + 1) | 0;
    await this.store.execute(`PRAGMA user_version = ${next}`, []);
    return next;
  }

  async query(sql: string, params: readonly unknown[] = [], opts: QueryOptions = {}): Promise<QueryResult> {
    if (this.closed) throw new DbError("08003", "the database connection is closed");
    const role = opts.auth ? opts.auth.role : null;
    const auth = authValues(opts.auth);
    // Plans depend on the role (which policies apply), never on the user: auth.* are bound values.
    const key = role === null ? sql : `${role}\u0000${sql}`;
    try {
      const cached = this.cache.get(key);
      if (cached && cached.version === this.version && !this.failed) {
        try {
          return await this.execute(cached, params, auth);
        } catch (e) {
          // Another connection changed the schema under the cached plan: plan it again.
          if (!this.staleCatalog(toDbError(e))) throw e;
          this.cache.delete(key);
          this.invalidate();
        }
      }
      return await this.parseAndRun(sql, params, key, role, auth);
    } catch (e) {
      const err = this.nameUniqueIndex(toDbError(e));
      if (this.store.inTransaction()) this.failed = true;
      throw err;
    }
  }

  /**
   * SQLite names the columns of a violated unique key, not the key: when a unique index of
   * the catalog covers exactly those columns, the message names it, as Postgres does.
   */
  private nameUniqueIndex(err: DbError): DbError {
    if (err.sqlstate !== SQLSTATE.uniqueViolation || !this.catalog) return err;
    const m = /^UNIQUE constraint failed: (.*)$/.exec(
      String((err.cause as { message?: unknown } | undefined)?.message ?? ""),
    );
    if (!m) return err;
    const cols = m[1]!.split(", ").map((c) => c.split("."));
    const table = cols[0]?.[0];
    const names = cols.map((c) => c[1] ?? "").join(",");
    for (const idx of this.catalog.indexes.values()) {
      if (
        idx.table !== table ||
        !idx.unique ||
        idx.name.startsWith("sqlite_autoindex_") ||
        idx.columns.join(",") !== names
      )
        continue;
      return new DbError(SQLSTATE.uniqueViolation, `duplicate key value violates unique constraint "${idx.name}"`, {
        cause: err.cause,
      });
    }
    return err;
  }

  private async parseAndRun(
    sql: string,
    params: readonly unknown[],
    key: string,
    role: string | null,
    auth: AuthValues,
  ): Promise<QueryResult> {
    const parsed = await parseSql(sql);
    const statements = parsed.statements;
    if (statements.length === 0) return { command: "", columns: [], rows: [], rowCount: 0 };
    if (statements.length > 1 && params.length > 0)
      throw new DbError(SQLSTATE.syntaxError, "cannot insert multiple commands into a prepared statement");
    // Like Postgres's simple protocol: several statements outside a transaction block run in
    // one implicit transaction, unless they manage transactions themselves.
    const TX = new Set(["StartTransaction", "Commit", "Rollback", "Savepoint", "ReleaseSavepoint"]);
    const implicit =
      statements.length > 1 &&
      !this.store.inTransaction() &&
      !statements.some((st) => TX.has(st && typeof st === "object" ? (Object.keys(st)[0] ?? "") : ""));
    if (!implicit) return this.runStatements(key, statements, parsed.positionOf, params, role, auth, sql);
    await this.internal("BEGIN");
    try {
      const result = await this.runStatements(key, statements, parsed.positionOf, params, role, auth, sql);
      await this.internal("COMMIT");
      return result;
    } catch (e) {
      if (this.store.inTransaction()) await this.internal("ROLLBACK");
      this.failed = false;
      this.invalidate();
      throw e;
    }
  }

  private async runStatements(
    key: string,
    statements: Ast[],
    positionOf: (loc: Loc | null | undefined) => number,
    params: readonly unknown[],
    role: string | null,
    auth: AuthValues,
    source: string,
  ): Promise<QueryResult> {
    let result: QueryResult | null = null;
    for (const stmt of statements) {
      for (let attempt = 0; ; attempt++) {
        const catalogWasCached = this.catalog !== null;
        try {
          const prepared = await this.prepare(stmt, positionOf, role, source);
          if (statements.length === 1 && this.cacheable(prepared.plan)) {
            if (this.cache.size >= CACHE_LIMIT) this.cache.clear();
            this.cache.set(key, prepared);
          }
          result = await this.execute(prepared, params, auth);
          break;
        } catch (e) {
          const err = toDbError(e);
          // A name the cached catalog does not know may have been created by another
          // connection: read the catalog again and plan once more before reporting it.
          if (attempt === 0 && catalogWasCached && this.staleCatalog(err)) {
            this.cache.delete(key);
            this.invalidate();
            continue;
          }
          throw err;
        }
      }
    }
    return result!;
  }

  /** An error that a newer catalog might not raise; retried only outside transaction blocks. */
  private staleCatalog(err: DbError): boolean {
    return (
      (err.sqlstate === SQLSTATE.undefinedTable || err.sqlstate === SQLSTATE.undefinedColumn) &&
      !this.store.inTransaction()
    );
  }

  private cacheable(plan: Plan): boolean {
    return plan.kind === "query" || plan.kind === "insert" || plan.kind === "update" || plan.kind === "delete";
  }

  private async prepare(
    stmt: Ast,
    positionOf: (loc: Loc | null | undefined) => number,
    role: string | null,
    source: string,
  ): Promise<Prepared> {
    const tag = stmt && typeof stmt === "object" ? Object.keys(stmt)[0] : "";
    if (this.failed && !(tag === "Rollback" || tag === "Commit"))
      throw new DbError(
        SQLSTATE.failedTransaction,
        "current transaction is aborted, commands ignored until end of transaction block",
      );
    const catalog = await this.currentCatalog();
    const { plan, paramTypes, paramPositions, violations } = planStatement(stmt, catalog, positionOf, role, source);
    let emitted: EmittedSql[] = [];
    let converters: Converter[] = [];
    switch (plan.kind) {
      case "query":
      case "insert":
      case "update":
      case "delete":
        emitted = [emitDml(plan, paramTypes)];
        converters = plan.columns.map((c) => converterFor(c.type));
        break;
      case "create_table":
      case "truncate":
      case "create_index":
      case "create_view":
      case "drop":
      case "alter_table":
      case "objects":
        emitted = emitDdl(plan);
        break;
      case "explain":
      case "tx":
      case "noop":
      case "show":
        break;
    }
    const checked = (plan.kind === "insert" || plan.kind === "update") && plan.op.check !== undefined;
    return {
      version: this.version,
      plan,
      emitted,
      required: requiredParams(emitted),
      paramPositions,
      converters,
      violations,
      checked,
    };
  }

  private async execute(p: Prepared, params: readonly unknown[], auth: AuthValues = OWNER_AUTH): Promise<QueryResult> {
    const plan = p.plan;
    if (plan.kind !== "tx" && plan.kind !== "explain" && plan.kind !== "noop" && plan.kind !== "show")
      checkParamCount(p.required, params.length, p.paramPositions);
    switch (plan.kind) {
      case "query":
      case "insert":
      case "update":
      case "delete": {
        const r = await this.runChecked(p, params, auth);
        const rows = convertRows(p.checked ? r.rows.map((row) => row.slice(0, -1)) : r.rows, p.converters);
        const columns = plan.columns.map((c) => ({ name: c.name, type: c.type === "unknown" ? "text" : c.type }));
        const returning = plan.kind === "query" || plan.columns.length > 0;
        const rowCount = returning || p.checked ? rows.length : r.rowsAffected;
        const command =
          plan.kind === "query"
            ? `SELECT ${rowCount}`
            : plan.kind === "insert"
              ? `INSERT 0 ${rowCount}`
              : `${plan.kind.toUpperCase()} ${rowCount}`;
        return { command, columns, rows: returning ? rows : [], rowCount };
      }
      case "create_table":
      case "truncate":
      case "create_index":
      case "create_view":
      case "drop":
      case "alter_table":
      case "objects": {
        const last = await this.runDdl(p.emitted);
        if (plan.kind === "create_table" && plan.asQuery) {
          // Postgres tags CREATE TABLE … AS with the rows it wrote.
          return { command: `SELECT ${last.rowsAffected}`, columns: [], rows: [], rowCount: last.rowsAffected };
        }
        return { command: ddlCommand(plan), columns: [], rows: [], rowCount: 0 };
      }
      case "tx":
        return this.transaction(plan.action, plan.savepoint);
      case "explain": {
        const lines = explainLines(plan.plan);
        return {
          command: `EXPLAIN`,
          columns: [{ name: "QUERY PLAN", type: "text" }],
          rows: lines.map((l) => [l]),
          rowCount: lines.length,
        };
      }
      case "noop":
        return { command: plan.command, columns: [], rows: [], rowCount: 0 };
      case "show":
        return { command: "SHOW", columns: [{ name: plan.name, type: "text" }], rows: [[plan.value]], rowCount: 1 };
    }
  }

  /**
   * Runs a statement whose row-level-security checks raise `$cave_rls:<n>` on a violation:
   * SQLite has already undone the statement's changes; the error becomes Postgres's 42501.
   */
  private async runChecked(p: Prepared, params: readonly unknown[], auth: AuthValues): Promise<StoreResult> {
    try {
      return await run(this.store, p.emitted[0]!, params, auth);
    } catch (e) {
      const err = toDbError(e);
      if (!p.violations.length) throw err;
      const m = VIOLATION_PATTERN.exec(
        String((err.cause as { message?: unknown } | undefined)?.message ?? err.message),
      );
      const message = m ? p.violations[Number(m[1])] : undefined;
      if (message === undefined) throw err;
      throw new DbError(INSUFFICIENT_PRIVILEGE, message);
    }
  }

  /**
   * A DDL statement and its catalog rows, all or nothing: in a savepoint inside the user's
   * transaction, else in a transaction of its own (a remote store keeps only BEGIN … COMMIT on
   * one connection; a bare SAVEPOINT there would not outlive its request).
   */
  private async runDdl(steps: EmittedSql[]): Promise<StoreResult> {
    const nested = this.store.inTransaction();
    await this.internal(nested ? "SAVEPOINT cave_ddl" : "BEGIN");
    try {
      let last: StoreResult = { columns: [], columnTypes: [], rows: [], rowsAffected: 0, lastInsertRowid: null };
      for (const s of steps) last = await run(this.store, s, []);
      const generation = await this.bumpGeneration();
      await this.internal(nested ? "RELEASE cave_ddl" : "COMMIT");
      // Our own change: syncCatalog need not reload for it (invalidate() below does, once).
      if (!nested) this.generation = generation;
      return last;
    } catch (e) {
      if (nested) {
        await this.internal("ROLLBACK TO cave_ddl");
        await this.internal("RELEASE cave_ddl");
      } else if (this.store.inTransaction()) await this.internal("ROLLBACK");
      throw e;
    } finally {
      this.invalidate();
    }
  }

  private async internal(sql: string): Promise<void> {
    await run(this.store, { sql, slots: [] }, []);
  }

  private async transaction(action: string, savepoint: string | null): Promise<QueryResult> {
    const done = (command: string): QueryResult => ({ command, columns: [], rows: [], rowCount: 0 });
    const inTx = this.store.inTransaction();
    const quoted = savepoint === null ? "" : `"${savepoint.replaceAll('"', '""')}"`;
    switch (action) {
      case "begin":
        // Postgres only warns about BEGIN inside a transaction block.
        if (!inTx) await this.internal("BEGIN");
        return done("BEGIN");
      case "commit":
        if (this.failed) {
          this.failed = false;
          if (inTx) await this.internal("ROLLBACK");
          this.invalidate();
          return done("ROLLBACK");
        }
        if (inTx) await this.internal("COMMIT");
        return done("COMMIT");
      case "rollback":
        this.failed = false;
        if (inTx) await this.internal("ROLLBACK");
        this.invalidate();
        return done("ROLLBACK");
      case "savepoint":
        if (!inTx) throw new DbError(SQLSTATE.noActiveTransaction, "SAVEPOINT can only be used in transaction blocks");
        await this.internal(`SAVEPOINT ${quoted}`);
        return done("SAVEPOINT");
      case "release":
        if (!inTx)
          throw new DbError(SQLSTATE.noActiveTransaction, "RELEASE SAVEPOINT can only be used in transaction blocks");
        await this.internal(`RELEASE SAVEPOINT ${quoted}`);
        return done("RELEASE");
      case "rollback_to":
        if (!inTx)
          throw new DbError(
            SQLSTATE.noActiveTransaction,
            "ROLLBACK TO SAVEPOINT can only be used in transaction blocks",
          );
        await this.internal(`ROLLBACK TO SAVEPOINT ${quoted}`);
        this.failed = false;
        this.invalidate();
        return done("ROLLBACK");
      default:
        throw new DbError(SQLSTATE.internalError, `unknown transaction action ${action}`);
    }
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.cache.clear();
    this.store.close();
  }
}
