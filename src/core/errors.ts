// The one error type cave throws: a stable `code` for machines, a message that says
// what went wrong, and an optional hint that says what to do about it.

/**
 * Codes are stable identifiers grouped by prefix (`USAGE`, `CONFIG_*`, `SANDBOX_*`, `DB_*`,
 * `AUTH_*`); the CLI maps them to exit codes and the server to HTTP statuses.
 */
export class CaveError extends Error {
  readonly code: string;
  readonly hint?: string;

  constructor(code: string, message: string, opts: { hint?: string; cause?: unknown } = {}) {
    super(message, "cause" in opts ? { cause: opts.cause } : undefined);
    this.name = "CaveError";
    this.code = code;
    if (opts.hint !== undefined) this.hint = opts.hint;
  }
}

export function isCaveError(e: unknown): e is CaveError {
  return e instanceof CaveError;
}
