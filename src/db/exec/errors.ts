// libSQL/SQLite failures → DbError with the SQLSTATE and wording Postgres would use.
// Converted once, here, where the executor receives them from the store.
import { CaveError } from "../../core/errors.ts";
import { DbError, SQLSTATE } from "../errors.ts";

interface SqliteLike {
  sqliteCode?: unknown;
  code?: unknown;
  message?: unknown;
}

function sqliteCodeOf(e: unknown): string {
  const x = (e ?? {}) as SqliteLike;
  if (typeof x.sqliteCode === "string") return x.sqliteCode;
  if (typeof x.code === "string" && x.code.startsWith("SQLITE_")) return x.code;
  return "";
}

function keyName(table: string, cols: string[], primary: boolean): string {
  return primary ? `${table}_pkey` : `${table}_${cols.join("_")}_key`;
}

/** Whatever a statement threw → a DbError (a DbError passes through). */
export function toDbError(e: unknown): DbError {
  if (e instanceof DbError) return e;
  if (e instanceof RangeError && /call stack/i.test(e.message))
    return new DbError("54001", "stack depth limit exceeded", { hint: "The statement is nested too deeply.", cause: e });
  const code = sqliteCodeOf(e);
  const message = String((e as SqliteLike)?.message ?? e).replace(/^SQLITE_[A-Z_]+: /, "");
  if (!code) {
    if (e instanceof CaveError) return new DbError(SQLSTATE.internalError, e.message, { cause: e });
    return new DbError(SQLSTATE.internalError, `internal error: ${message}`, { cause: e });
  }
  const unique = /^UNIQUE constraint failed: (.*)$/.exec(message);
  if (code === "SQLITE_CONSTRAINT_UNIQUE" || code === "SQLITE_CONSTRAINT_PRIMARYKEY" || unique) {
    const cols = (unique?.[1] ?? "").split(", ").map((c) => c.split("."));
    const table = cols[0]?.[0] ?? "";
    const name = keyName(table, cols.map((c) => c[1] ?? ""), code === "SQLITE_CONSTRAINT_PRIMARYKEY");
    return new DbError(SQLSTATE.uniqueViolation, `duplicate key value violates unique constraint "${name}"`, { cause: e });
  }
  const notNull = /^NOT NULL constraint failed: ([^.]*)\.(.*)$/.exec(message);
  if (code === "SQLITE_CONSTRAINT_NOTNULL" || notNull) {
    return new DbError(
      SQLSTATE.notNullViolation,
      `null value in column "${notNull?.[2] ?? "?"}" of relation "${notNull?.[1] ?? "?"}" violates not-null constraint`,
      { cause: e },
    );
  }
  if (code === "SQLITE_CONSTRAINT_FOREIGNKEY" || /FOREIGN KEY constraint failed/.test(message))
    return new DbError(SQLSTATE.foreignKeyViolation, "insert or update or delete violates a foreign key constraint", { cause: e });
  const length = /^CHECK constraint failed: _cave_length_(varchar|bpchar)_(\d+)$/.exec(message);
  if (length)
    return new DbError("22001", `value too long for type ${length[1] === "varchar" ? "character varying" : "character"}(${length[2]})`, {
      cause: e,
    });
  const check = /^CHECK constraint failed: (.*)$/.exec(message);
  if (code === "SQLITE_CONSTRAINT_CHECK" || check)
    return new DbError(SQLSTATE.checkViolation, `new row violates check constraint "${check?.[1] ?? "?"}"`, { cause: e });
  if (/ON CONFLICT clause does not match any PRIMARY KEY or UNIQUE constraint/.test(message))
    return new DbError(SQLSTATE.invalidColumnReference, "there is no unique or exclusion constraint matching the ON CONFLICT specification", { cause: e });
  if (/^no such savepoint: (.*)$/.test(message))
    return new DbError(SQLSTATE.undefinedSavepoint, `savepoint "${message.replace(/^no such savepoint: /, "")}" does not exist`, { cause: e });
  if (/malformed JSON|JSON cannot hold BLOB/.test(message))
    return new DbError(SQLSTATE.invalidTextRepresentation, "invalid input syntax for type json", { cause: e });
  if (/integer overflow/.test(message)) return new DbError(SQLSTATE.numericOutOfRange, "integer out of range", { cause: e });
  if (/too many terms in compound SELECT|Expression tree is too large|too many (columns|arguments|SQL variables)|string or blob too big/.test(message))
    return new DbError(SQLSTATE.programLimitExceeded, message, { cause: e });
  if (/^no such (table|view): (.*)$/.exec(message))
    return new DbError(SQLSTATE.undefinedTable, `relation "${message.replace(/^no such (table|view): (main\.)?/, "")}" does not exist`, { cause: e });
  if (/^no such column: (.*)$/.exec(message))
    return new DbError(SQLSTATE.undefinedColumn, `column "${message.replace(/^no such column: /, "")}" does not exist`, { cause: e });
  if (/^no such function: (.*)$/.exec(message))
    return new DbError(SQLSTATE.undefinedFunction, `function ${message.replace(/^no such function: /, "")} does not exist`, { cause: e });
  const dependent = /^error in (view|trigger) (\S+) after (drop|rename) column/.exec(message);
  if (dependent)
    return new DbError("2BP01", `cannot ${dependent[3]} the column because ${dependent[1]} ${dependent[2]} depends on it`, {
      cause: e,
      hint: `Drop or recreate ${dependent[1]} ${dependent[2]} first.`,
    });
  if (/^error in index \S+ after drop column|^cannot drop (PRIMARY KEY|UNIQUE) column/.test(message))
    return new DbError(SQLSTATE.featureNotSupported, "dropping a column that is part of an index, primary key or unique constraint is not supported", {
      cause: e,
      hint: "Drop the index first; key columns cannot be dropped.",
    });
  if (/DISTINCT aggregates must have exactly one argument/.test(message))
    return new DbError(SQLSTATE.featureNotSupported, "DISTINCT aggregates with more than one argument are not supported", { cause: e });
  if (/row value misused/.test(message))
    return new DbError(SQLSTATE.datatypeMismatch, "a row value cannot be used as a single value", { cause: e });
  if (/term out of range - should be between/.test(message))
    return new DbError(SQLSTATE.invalidColumnReference, message.replace(/^(\d+)\w\w (ORDER|GROUP) BY term out of range.*$/, "$2 BY position is not in select list"), { cause: e });
  if (/misuse of (aggregate|window)/.test(message)) return new DbError(SQLSTATE.groupingError, message, { cause: e });
  if (/ambiguous column name/.test(message)) return new DbError(SQLSTATE.ambiguousColumn, message, { cause: e });
  if (/already exists/.test(message)) return new DbError(SQLSTATE.duplicateTable, message, { cause: e });
  if (/syntax error|incomplete input|unrecognized token/.test(message)) return new DbError(SQLSTATE.syntaxError, message, { cause: e });
  if (/datatype mismatch/.test(message)) return new DbError(SQLSTATE.datatypeMismatch, message, { cause: e });
  if (code === "SQLITE_INTERRUPT")
    return new DbError("57014", "canceling statement due to statement timeout", {
      cause: e,
      hint: "POST /query stops a statement that runs longer than db.statement_timeout (cave.yaml, default 8s).",
    });
    if (code === "SQLITE_BUSY_SNAPSHOT")
    return new DbError(SQLSTATE.serializationFailure, "could not serialize access due to concurrent update", {
      cause: e,
      hint: "Another connection wrote what this transaction read; retry the transaction.",
    });
  if (code.startsWith("SQLITE_BUSY") || code.startsWith("SQLITE_LOCKED"))
    return new DbError(SQLSTATE.lockNotAvailable, "could not obtain lock: the database is busy", { cause: e, hint: "Retry the transaction." });
  if (code.startsWith("SQLITE_READONLY")) return new DbError("25006", "cannot execute in a read-only database", { cause: e });
  if (code.startsWith("SQLITE_FULL")) return new DbError("53100", "could not extend file: the disk is full", { cause: e });
  if (code.startsWith("SQLITE_CORRUPT") || code.startsWith("SQLITE_NOTADB")) return new DbError("XX001", message, { cause: e });
  if (code.startsWith("SQLITE_IOERR") || code.startsWith("SQLITE_CANTOPEN")) return new DbError(SQLSTATE.ioError, message, { cause: e });
  if (code.startsWith("SQLITE_CONSTRAINT")) return new DbError("23000", message, { cause: e });
  return new DbError(SQLSTATE.internalError, message, { cause: e });
}
