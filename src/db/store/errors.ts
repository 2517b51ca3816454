// The storage layer's one error type. libSQL errors (from the `libsql` addon or from
// @libsql/client) are converted here, once, where they enter cave: the pipeline above maps
// `sqliteCode` to a SQLSTATE without knowing which transport raised it.
import { CaveError } from "../../core/errors.ts";

/** SQLite's primary result codes, for errors that come with only a number. */
const PRIMARY_CODES: Record<number, string> = {
  1: "SQLITE_ERROR",
  2: "SQLITE_INTERNAL",
  3: "SQLITE_PERM",
  4: "SQLITE_ABORT",
  5: "SQLITE_BUSY",
  6: "SQLITE_LOCKED",
  7: "SQLITE_NOMEM",
  8: "SQLITE_READONLY",
  9: "SQLITE_INTERRUPT",
  10: "SQLITE_IOERR",
  11: "SQLITE_CORRUPT",
  12: "SQLITE_NOTFOUND",
  13: "SQLITE_FULL",
  14: "SQLITE_CANTOPEN",
  15: "SQLITE_PROTOCOL",
  16: "SQLITE_EMPTY",
  17: "SQLITE_SCHEMA",
  18: "SQLITE_TOOBIG",
  19: "SQLITE_CONSTRAINT",
  20: "SQLITE_MISMATCH",
  21: "SQLITE_MISUSE",
  22: "SQLITE_NOLFS",
  23: "SQLITE_AUTH",
  24: "SQLITE_FORMAT",
  25: "SQLITE_RANGE",
  26: "SQLITE_NOTADB",
};

/**
 * A failure reported by libSQL. `sqliteCode` is the extended code when libSQL gave one
 * (SQLITE_CONSTRAINT_UNIQUE, SQLITE_CONSTRAINT_NOTNULL, SQLITE_BUSY_SNAPSHOT…), else the
 * primary one (SQLITE_ERROR for syntax and "no such table"); `rawCode` is the number.
 * The CaveError `code` is `DB_STORE`; the message is SQLite's own, without a code prefix.
 */
export class StoreError extends CaveError {
  readonly sqliteCode: string;
  readonly rawCode: number | undefined;

  constructor(sqliteCode: string, message: string, opts: { rawCode?: number; hint?: string; cause?: unknown } = {}) {
    super("DB_STORE", message, opts);
    this.name = "StoreError";
    this.sqliteCode = sqliteCode;
    this.rawCode = opts.rawCode;
  }

  /** The primary code: SQLITE_CONSTRAINT for SQLITE_CONSTRAINT_UNIQUE. */
  get primaryCode(): string {
    if (this.rawCode !== undefined) return PRIMARY_CODES[this.rawCode & 0xff] ?? this.sqliteCode;
    const m = /^SQLITE_[A-Z]+/.exec(this.sqliteCode);
    return m ? m[0] : this.sqliteCode;
  }
}

export function isStoreError(e: unknown): e is StoreError {
  return e instanceof StoreError;
}

interface ForeignSqliteError {
  message: string;
  code?: unknown;
  extendedCode?: unknown;
  rawCode?: unknown;
}

const HINTS: Record<string, string> = {
  SQLITE_BUSY: "another process holds the database's write lock; retry, or stop the other writer",
  SQLITE_READONLY: "the database file or its directory is not writable by this user",
  SQLITE_CANTOPEN: "check that the data directory exists and is writable (CAVE_DATA_DIR, or --data-dir)",
  SQLITE_CORRUPT: "restore from a backup (cave db backup); see docs/operations.md",
  SQLITE_NOTADB: "the file is not a SQLite/libSQL database",
  SQLITE_FULL: "the disk is full",
};

/**
 * Converts whatever libSQL threw into a StoreError; a StoreError passes through unchanged.
 * Errors that carry no SQLite code (a bad bind value, a closed connection) become
 * SQLITE_MISUSE: they are the caller's mistake, not the database's state.
 */
export function toStoreError(e: unknown): StoreError {
  if (e instanceof StoreError) return e;
  const err = (e ?? {}) as ForeignSqliteError;
  const rawCode = typeof err.rawCode === "number" ? err.rawCode : undefined;
  // @libsql/client: code is the primary code, extendedCode the extended one (absent over
  // older Hrana servers). libsql's SqliteError: code is already the extended code.
  const extended = typeof err.extendedCode === "string" ? err.extendedCode : undefined;
  const code = typeof err.code === "string" && err.code.startsWith("SQLITE_") ? err.code : undefined;
  const sqliteCode =
    extended ?? code ?? (rawCode !== undefined ? (PRIMARY_CODES[rawCode & 0xff] ?? "SQLITE_ERROR") : "SQLITE_MISUSE");
  let message = typeof err.message === "string" ? err.message : String(e);
  // @libsql/client prefixes "SQLITE_CONSTRAINT: "; the code is a field of its own here.
  if (typeof err.code === "string" && message.startsWith(`${err.code}: `)) message = message.slice(err.code.length + 2);
  const primary = rawCode !== undefined ? PRIMARY_CODES[rawCode & 0xff] : /^SQLITE_[A-Z]+/.exec(sqliteCode)?.[0];
  const hint = primary ? HINTS[primary] : undefined;
  return new StoreError(sqliteCode, message, {
    ...(rawCode !== undefined ? { rawCode } : {}),
    ...(hint ? { hint } : {}),
    cause: e,
  });
}
