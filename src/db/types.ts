// The engine's public shapes: what `Engine.query` returns. Shared by the CLI (`cave db …`),
// and later the HTTP endpoints and the Postgres wire protocol.

/** A Postgres type name as the user declared it (int8, text, bool, jsonb, timestamptz…). */
export type PgType = string;

export interface QueryResult {
  /** The command tag Postgres would send: "SELECT 3", "INSERT 0 1", "UPDATE 2", "CREATE TABLE", "BEGIN"… */
  command: string;
  columns: { name: string; type: PgType }[];
  /** Values converted to JS by column type: bool → true/false, int8 → number (bigint past 2^53), jsonb → parsed… */
  rows: unknown[][];
  /** Rows returned (SELECT, RETURNING) or affected (INSERT/UPDATE/DELETE without RETURNING). */
  rowCount: number;
}

/** The engine as the CLI and servers see it. */
export interface SqlEngine {
  query(sql: string, params?: readonly unknown[], opts?: QueryOptions): Promise<QueryResult>;
  /** Catches up with catalog changes (DDL, policies) other connections made; once per unit of work. */
  syncCatalog(): Promise<void>;
  close(): void;
}

/**
 * Who runs a statement (issue 6). Absent: the database owner (the CLI, migrations, cave's own
 * modules): row-level security applies only to tables with FORCE ROW LEVEL SECURITY.
 * Present: a request role from a verified JWT. `service_role` bypasses row-level security;
 * every other role sees only what the policies allow, and no role reaches cave's own tables.
 * The claims are bound as values (auth.uid(), auth.role(), auth.jwt()), never spliced into SQL.
 */
export interface AuthContext {
  /** "anon", "authenticated", "service_role", or another role named by the JWT. */
  role: string;
  /** The verified JWT payload: sub, role, email, app_metadata, exp… ({} for none). */
  claims: Record<string, unknown>;
}

export interface QueryOptions {
  auth?: AuthContext;
}
