// The storage interface under bkg-db's executor: one implementation per transport
// (embedded libSQL file through the synchronous `libsql` API; remote libSQL/sqld through
// @libsql/client). The pipeline above never sees which one it talks to.

/** What one statement returned. Rows are positional; column order matches `columns`. */
export interface StoreResult {
  columns: string[];
  /** Declared SQLite types of the result columns where known ("" otherwise). */
  columnTypes: string[];
  rows: unknown[][];
  rowsAffected: number;
  lastInsertRowid: bigint | null;
}

/** A value bound to a `?N` parameter: SQLite's storage classes. */
export type StoreValue = null | number | bigint | string | Uint8Array;

export interface Store {
  /** Where the data lives: `file:/abs/path.db`, `:memory:`, or the remote URL (no credentials). */
  readonly url: string;
  /** Runs ONE already-emitted SQLite statement with positional parameters (?1, ?2, …). */
  execute(sql: string, params: readonly StoreValue[]): Promise<StoreResult>;
  /** Whether a transaction opened with BEGIN is in progress on this connection. */
  inTransaction(): boolean;
  /** WAL checkpoint (TRUNCATE) for files; remote stores report zeros. */
  checkpoint(): Promise<{ busy: number; log: number; checkpointed: number }>;
  /** An online, consistent copy to `path` (VACUUM INTO for files). */
  backup(path: string): Promise<void>;
  close(): void;
}
