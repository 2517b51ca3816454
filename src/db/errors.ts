// The database's one error type: a CaveError whose code is `DB_<sqlstate>`, with the
// SQLSTATE and the 1-based character position in the statement, worded like Postgres.
import { CaveError } from "../core/errors.ts";

export class DbError extends CaveError {
  readonly sqlstate: string;
  /** 1-based character offset into the statement text, as Postgres reports it; 0 when unknown. */
  readonly position: number;

  constructor(sqlstate: string, message: string, opts: { position?: number; hint?: string; cause?: unknown } = {}) {
    super(`DB_${sqlstate}`, message, {
      ...(opts.hint !== undefined ? { hint: opts.hint } : {}),
      ...("cause" in opts ? { cause: opts.cause } : {}),
    });
    this.name = "DbError";
    this.sqlstate = sqlstate;
    this.position = opts.position ?? 0;
  }
}

export function isDbError(e: unknown): e is DbError {
  return e instanceof DbError;
}

/** SQLSTATEs the engine raises, named as in Postgres's errcodes. */
export const SQLSTATE = {
  syntaxError: "42601",
  undefinedTable: "42P01",
  undefinedColumn: "42703",
  undefinedFunction: "42883",
  undefinedObject: "42704",
  windowingError: "42P20",
  invalidRecursion: "42P19",
  invalidTableDefinition: "42P16",
  ambiguousColumn: "42702",
  duplicateTable: "42P07",
  duplicateColumn: "42701",
  duplicateAlias: "42712",
  duplicateObject: "42710",
  groupingError: "42803",
  datatypeMismatch: "42804",
  invalidColumnReference: "42P10",
  wrongObjectType: "42809",
  reservedName: "42939",
  featureNotSupported: "0A000",
  uniqueViolation: "23505",
  notNullViolation: "23502",
  foreignKeyViolation: "23503",
  checkViolation: "23514",
  invalidTextRepresentation: "22P02",
  numericOutOfRange: "22003",
  divisionByZero: "22012",
  invalidParameterValue: "22023",
  undefinedParameter: "42P02",
  activeTransaction: "25001",
  noActiveTransaction: "25P01",
  failedTransaction: "25P02",
  undefinedSavepoint: "3B001",
  internalError: "XX000",
  ioError: "58030",
  serializationFailure: "40001",
  lockNotAvailable: "55P03",
  programLimitExceeded: "54000",
} as const;

export function featureNotSupported(what: string, position = 0): DbError {
  return new DbError(SQLSTATE.featureNotSupported, `${what} is not supported`, { position });
}
