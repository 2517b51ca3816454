// The data API's error contract, as PostgREST answers: a JSON body {code, message, details, hint}
// and PostgREST's status for each SQLSTATE or PGRST code. SQLSTATEs become statuses here only.
import { isCaveError } from "../../../core/errors.ts";
import { isDbError } from "../../../db/errors.ts";

export class RestError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly details: string | null = null,
    readonly hint: string | null = null,
  ) {
    super(message);
    this.name = "RestError";
  }
}

/** A query string or header that cannot be parsed: PGRST100, naming the bad part. */
export function badRequest(message: string, details: string | null = null, hint: string | null = null): RestError {
  return new RestError(400, "PGRST100", message, details, hint);
}

/** PostgREST's status for a SQLSTATE (its docs, "HTTP status codes"); role decides 42501. */
export function statusForSqlstate(sqlstate: string, role: string): number {
  if (sqlstate === "42501") return role === "anon" ? 401 : 403;
  if (sqlstate === "23503" || sqlstate === "23505") return 409;
  if (sqlstate === "42P01" || sqlstate === "42883") return 404;
  if (sqlstate === "25006") return 405;
  if (sqlstate === "54000" || sqlstate.startsWith("54")) return 413;
  if (sqlstate.startsWith("08") || sqlstate.startsWith("53")) return 503;
  if (sqlstate.startsWith("28") || sqlstate.startsWith("0L") || sqlstate.startsWith("0P")) return 403;
  if (
    sqlstate.startsWith("XX") ||
    sqlstate.startsWith("58") ||
    sqlstate.startsWith("40") ||
    sqlstate.startsWith("55") ||
    sqlstate.startsWith("57")
  )
    return 500;
  if (sqlstate.startsWith("25") && sqlstate !== "25P02") return 500;
  return 400;
}

/** Any error of a data request as PostgREST's {status, body}. */
export function restErrorOf(
  e: unknown,
  role: string,
): { status: number; body: { code: string; message: string; details: string | null; hint: string | null } } {
  if (e instanceof RestError)
    return { status: e.status, body: { code: e.code, message: e.message, details: e.details, hint: e.hint } };
  if (isDbError(e)) {
    return {
      status: statusForSqlstate(e.sqlstate, role),
      body: { code: e.sqlstate, message: e.message, details: null, hint: e.hint ?? null },
    };
  }
  if (isCaveError(e))
    return { status: 500, body: { code: e.code, message: e.message, details: null, hint: e.hint ?? null } };
  return {
    status: 500,
    body: { code: "XX000", message: e instanceof Error ? e.message : String(e), details: null, hint: null },
  };
}
