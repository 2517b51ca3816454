// The CLI's half of the error contract: a CaveError becomes one message (plus its
// hint) on stderr and an exit code per class; stacks and causes only with --debug.
import { isCaveError } from "../core/errors.ts";
import { writeStderr } from "../core/log.ts";

/** Exit codes of cave's own failures (a sandboxed command's codes pass through). */
export const CLI_EXIT = { USAGE: 2, SETUP: 125, INTERNAL: 70, DB: 1, REMOTE: 1 } as const;

export function exitCodeFor(code: string): number {
  // A remote cave serve's BAD_REQUEST is the user's input too; a refused key is theirs to fix.
  if (code === "USAGE" || code.startsWith("CONFIG_") || code === "BAD_REQUEST" || code.startsWith("AUTH_"))
    return CLI_EXIT.USAGE;
  if (code.startsWith("REMOTE_")) return CLI_EXIT.REMOTE;
  if (code.startsWith("SANDBOX_")) return CLI_EXIT.SETUP;
  // A statement the database refused (syntax, constraint…): the user's input, not cave's bug.
  if (code.startsWith("DB_")) return CLI_EXIT.DB;
  // The audit log's refusals (unreadable file, missing key, a corrupt tail) are findings about
  // the operator's data directory, reported with what to do; not cave's bug.
  if (code.startsWith("AUDIT_")) return 1;
  return CLI_EXIT.INTERNAL;
}

export function reportError(e: unknown, opts: { debug: boolean }): number {
  const err = { write: writeStderr };
  if (isCaveError(e)) {
    err.write(`cave: ${e.message}\n`);
    if (e.hint) err.write(`  hint: ${e.hint}\n`);
    if (opts.debug) {
      err.write(`  code: ${e.code}\n${e.stack ?? ""}\n`);
      let c: unknown = e.cause;
      while (c) {
        err.write(`caused by: ${c instanceof Error ? (c.stack ?? c.message) : String(c)}\n`);
        c = c instanceof Error ? c.cause : undefined;
      }
    }
    return exitCodeFor(e.code);
  }
  // citty's own usage errors (unknown command, missing argument)
  if (e instanceof Error && (e as { code?: string }).code?.startsWith("E_")) {
    err.write(`cave: ${e.message}\n  hint: run \`cave --help\`\n`);
    return CLI_EXIT.USAGE;
  }
  err.write(`cave: internal error: ${e instanceof Error ? e.message : String(e)}\n`);
  if (opts.debug && e instanceof Error) err.write(`${e.stack}\n`);
  else err.write("  hint: run again with --debug for the stack, and report it\n");
  return CLI_EXIT.INTERNAL;
}
