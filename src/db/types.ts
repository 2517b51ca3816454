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
  query(sql: string, params?: readonly unknown[]): Promise<QueryResult>;
  close(): void;
}
