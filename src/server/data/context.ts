// What every data-API request shares: the data API's own engine connection (not the
// sandboxes'), the mutex that keeps a request's statements together, the schema model, and
// the verified-token cache in front of the auth service. Every statement runs with the
// caller's AuthContext, so the planner's row-level security applies to every path.
import type { AuthContext, RequestAuth, RequestCredentials } from "../../auth/types.ts";
import type { Store } from "../../db/store/types.ts";
import type { QueryOptions, QueryResult } from "../../db/types.ts";
import { Mutex } from "./lock.ts";
import { loadModel, type SchemaModel, schemaVersion } from "./model.ts";

/** The engine as the data API uses it (src/db/engine.ts with its auth option). */
export interface DataEngine {
  query(sql: string, params?: readonly unknown[], opts?: QueryOptions): Promise<QueryResult>;
  /** Re-reads the catalog if another connection changed it (src/db/engine.ts). */
  syncCatalog(): Promise<void>;
  readonly store: Store;
  close(): void;
}

const AUTH_CACHE_LIMIT = 10_000;
/** A verified token is trusted again without verification for at most this long (and never past its exp). */
const AUTH_CACHE_MS = 60_000;

export class DataContext {
  private readonly lock = new Mutex();
  private model: SchemaModel | null = null;
  private readonly verified = new Map<string, { ctx: AuthContext; until: number }>();
  /** REST's statements, on `engine`. */
  private readonly rest: Session;
  /** POST /query's SQL, on `queryEngine` (under the same mutex). */
  readonly sql: Session;

  constructor(
    readonly engine: DataEngine,
    private readonly auth: RequestAuth,
    /** POST /query's own engine: statements off the event loop, cancelled at the statement timeout. */
    readonly queryEngine: DataEngine = engine,
    /** The most rows one REST read answers (db.max_rows); null: no cap. */
    readonly maxRows: number | null = null,
  ) {
    this.rest = sessionOf(engine);
    this.sql = sessionOf(queryEngine);
  }

  /**
   * The caller's role and claims from the apikey and Authorization headers, through the auth
   * service; a token verified before is answered from a cache until min(exp, a minute).
   */
  async authenticate(req: Request): Promise<AuthContext> {
    const creds: RequestCredentials = {
      apikey: req.headers.get("apikey"),
      authorization: req.headers.get("authorization"),
    };
    const key = `${creds.apikey ?? ""}\n${creds.authorization ?? ""}`;
    const now = Date.now();
    const hit = this.verified.get(key);
    if (hit && hit.until > now) return hit.ctx;
    const ctx = await this.auth.authenticate(creds);
    const exp = typeof ctx.claims.exp === "number" ? ctx.claims.exp * 1000 : Number.POSITIVE_INFINITY;
    if (this.verified.size >= AUTH_CACHE_LIMIT) this.verified.clear();
    this.verified.set(key, { ctx, until: Math.min(exp, now + AUTH_CACHE_MS) });
    return ctx;
  }

  /**
   * Runs one request's database work alone on the connections (statements never interleave
   * with another request's), after the engine it uses (REST's, or /query's with "sql") has
   * caught up with catalog changes made by other connections: a policy changed through
   * /query, by `cave db query` or by another process applies to the very next request.
   */
  exclusive<T>(fn: () => Promise<T>, on: "rest" | "sql" = "rest"): Promise<T> {
    return this.lock.run(async () => {
      await (on === "sql" ? this.queryEngine : this.engine).syncCatalog();
      return fn();
    });
  }

  async schema(): Promise<SchemaModel> {
    if (!this.model) this.model = await loadModel(this.engine.store);
    return this.model;
  }

  /** Reads the schema again if it changed since; says whether it did (a miss is then retried once). */
  async refreshSchema(): Promise<boolean> {
    if (this.model && this.model.version === (await schemaVersion(this.engine.store))) return false;
    this.model = await loadModel(this.engine.store);
    return true;
  }

  /** One statement as the caller. */
  run(sql: string, params: readonly unknown[], auth: AuthContext): Promise<QueryResult> {
    return this.rest.run(sql, params, auth);
  }

  /** Transaction control (BEGIN, COMMIT, ROLLBACK): no data is read, so it runs as the owner. */
  control(sql: "BEGIN" | "COMMIT" | "ROLLBACK"): Promise<void> {
    return this.rest.control(sql);
  }

  inTransaction(): boolean {
    return this.rest.inTransaction();
  }
}

type Session = ReturnType<typeof sessionOf>;

/** Statements as a caller, transaction control and its state, on one engine (connection). */
function sessionOf(engine: DataEngine) {
  return {
    run: (sql: string, params: readonly unknown[], auth: AuthContext): Promise<QueryResult> =>
      engine.query(sql, params, { auth }),
    control: async (sql: "BEGIN" | "COMMIT" | "ROLLBACK"): Promise<void> => {
      await engine.query(sql);
    },
    inTransaction: (): boolean => engine.store.inTransaction(),
  };
}
