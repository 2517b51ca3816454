// The one place identifiers and (DDL-only) literals become SQL text.

/** A double-quoted SQLite identifier; embedded quotes doubled. */
export function quoteIdent(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}

/**
 * A single-quoted string literal, for the statements where SQLite cannot take parameters
 * (CREATE TABLE defaults and checks, views, index predicates). Everywhere else values are bound.
 */
export function quoteLiteral(value: string): string {
  return `'${value.replaceAll("'", "''")}'`;
}
