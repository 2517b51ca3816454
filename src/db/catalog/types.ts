// Postgres types as cave stores them on SQLite: the canonical name kept in the catalog, the
// SQLite declared type (which sets column affinity), and the parser's data_type → name.
import type { Ast } from "../parse/ast.ts";
import { tagOf } from "../parse/ast.ts";

/** Canonical Postgres type names cave knows. Anything else is kept by name and treated as text. */
export type PgTypeName =
  | "int2"
  | "int4"
  | "int8"
  | "float4"
  | "float8"
  | "numeric"
  | "text"
  | "varchar"
  | "bpchar"
  | "bool"
  | "timestamptz"
  | "timestamp"
  | "date"
  | "time"
  | "jsonb"
  | "json"
  | "uuid"
  | "bytea"
  | "unknown";

export interface TypeSpec {
  /** Canonical name, e.g. "int4", "varchar". */
  name: string;
  /** Modifier as written, e.g. "(20)", "(10,2)"; "" when none. */
  mod: string;
  /** serial/bigserial/smallserial: an integer that defaults to the next value. */
  serial: boolean;
}

const ALIASES: Record<string, string> = {
  int: "int4",
  integer: "int4",
  int4: "int4",
  smallint: "int2",
  int2: "int2",
  bigint: "int8",
  int8: "int8",
  tinyint: "int2",
  mediumint: "int4",
  real: "float4",
  float4: "float4",
  float: "float8",
  float8: "float8",
  double: "float8",
  doubleprecision: "float8",
  numeric: "numeric",
  decimal: "numeric",
  dec: "numeric",
  text: "text",
  string: "text",
  varchar: "varchar",
  charactervarying: "varchar",
  charvarying: "varchar",
  nvarchar: "varchar",
  char: "bpchar",
  character: "bpchar",
  bpchar: "bpchar",
  bool: "bool",
  boolean: "bool",
  timestamptz: "timestamptz",
  timestamp: "timestamp",
  datetime: "timestamp",
  date: "date",
  time: "time",
  jsonb: "jsonb",
  json: "json",
  uuid: "uuid",
  bytea: "bytea",
  blob: "bytea",
  serial: "int4",
  serial4: "int4",
  bigserial: "int8",
  serial8: "int8",
  smallserial: "int2",
  serial2: "int2",
};

/**
 * Whether a type name (canonicalType's answer, without modifiers) names a type at all: one cave
 * models, or another of Postgres's built-in types (read as text, as before). Anything else is a
 * typo or a type that exists nowhere: Postgres's 42704. Arrays come through as "array".
 */
export function isKnownType(canonical: string): boolean {
  return KNOWN_TYPES.has(canonical) || ALIAS_TARGETS.has(canonical);
}
const ALIAS_TARGETS = new Set(Object.values(ALIASES));
const KNOWN_TYPES = new Set([
  "array", "interval", "timetz", "name", "oid", "regclass", "regtype", "regproc", "regprocedure", "regnamespace",
  "regrole", "regconfig", "record", "unknown", "money", "inet", "cidr", "macaddr", "macaddr8", "bit", "varbit",
  "xml", "point", "line", "lseg", "box", "path", "polygon", "circle", "tsvector", "tsquery", "jsonpath", "pg_lsn",
  "int4range", "int8range", "numrange", "tsrange", "tstzrange", "daterange", "int4multirange", "int8multirange",
  "nummultirange", "tsmultirange", "tstzmultirange", "datemultirange", "xid", "xid8", "cid", "tid", "citext",
]);

/** Folds a type name as written ("INTEGER", "character varying") to its canonical name. */
export function canonicalType(written: string): string {
  const key = written.toLowerCase().replace(/[\s_]+/g, "");
  return ALIASES[key] ?? written.toLowerCase();
}

function modOf(v: Ast): string {
  if (v === null || v === undefined) return "";
  if (typeof v === "number") return `(${v})`;
  if (typeof v === "object") {
    const tag = tagOf(v);
    const inner = v[tag];
    if (tag === "PrecisionAndScale" && Array.isArray(inner)) return `(${inner[0]},${inner[1]})`;
    if (tag === "Precision") return `(${inner})`;
    if (tag === "IntegerLength" && inner && typeof inner.length === "number") return `(${inner.length})`;
    if (tag === "Max") return "";
  }
  return "";
}

/** The parser's `data_type` → a TypeSpec. */
export function typeFromAst(dt: Ast): TypeSpec {
  if (typeof dt === "string") return { name: canonicalType(dt === "JSONB" ? "jsonb" : dt), mod: "", serial: false };
  const tag = tagOf(dt);
  const inner = dt?.[tag];
  if (tag === "Custom" && Array.isArray(inner)) {
    const parts = (inner[0] as Ast[]).map((p) => String(p?.Identifier?.value ?? p?.value ?? ""));
    const written = parts[parts.length - 1] ?? "";
    const lower = written.toLowerCase();
    const args = (inner[1] as string[] | undefined) ?? [];
    return { name: canonicalType(written), mod: args.length ? `(${args.join(",")})` : "", serial: lower.includes("serial") };
  }
  if (tag === "Timestamp" || tag === "Time") {
    const tz = Array.isArray(inner) && inner[1] === "Tz";
    const base = tag === "Timestamp" ? "timestamp" : "time";
    return { name: tz ? `${base}tz` : base, mod: "", serial: false };
  }
  if (tag === "Float") {
    const p = typeof inner === "number" ? inner : (inner?.Precision ?? null);
    return { name: typeof p === "number" && p <= 24 ? "float4" : "float8", mod: "", serial: false };
  }
  return { name: canonicalType(tag), mod: modOf(inner), serial: false };
}

export function typeText(t: TypeSpec): string {
  return t.name + t.mod;
}

/** The SQLite declared type that gives the column the right affinity. */
export function sqliteDeclType(pgType: string): string {
  const base = pgType.replace(/\(.*$/, "");
  switch (base) {
    case "int2":
    case "int4":
    case "int8":
    case "bool":
      return "INTEGER";
    case "float4":
    case "float8":
      return "REAL";
    case "numeric":
      return "NUMERIC";
    case "bytea":
      return "BLOB";
    default:
      return "TEXT";
  }
}

/** The Postgres type for a column declared outside cave (a plain SQLite table). */
export function pgTypeFromDecl(decl: string): string {
  const d = decl.toUpperCase();
  if (d === "") return "text";
  const known = canonicalType(d.replace(/\(.*$/, ""));
  if (ALIASES[d.replace(/\(.*$/, "").toLowerCase().replace(/[\s_]+/g, "")]) return known;
  if (d.includes("INT")) return "int8";
  if (d.includes("CHAR") || d.includes("CLOB") || d.includes("TEXT")) return "text";
  if (d.includes("BLOB")) return "bytea";
  if (d.includes("REAL") || d.includes("FLOA") || d.includes("DOUB")) return "float8";
  return "numeric";
}

export function isIntegerType(t: string): boolean {
  return t === "int2" || t === "int4" || t === "int8";
}

export function isNumericType(t: string): boolean {
  return isIntegerType(t) || t === "float4" || t === "float8" || t === "numeric";
}

export function isTextType(t: string): boolean {
  return t === "text" || t.startsWith("varchar") || t.startsWith("bpchar") || t === "unknown";
}
