// Postgres functions cave accepts and how each is written for SQLite. libSQL cannot register
// functions, so each is a SQLite built-in or an expression over built-ins.
import { isIntegerType } from "../catalog/types.ts";

export interface FunctionDef {
  /** SQLite function name, or a template with $1, $2 … for the arguments. */
  sqlite: string;
  agg?: boolean;
  window?: boolean;
  /** The result type from the argument types. */
  ret: (args: string[]) => string;
  minArgs?: number;
  maxArgs?: number;
}

const same = (args: string[]) => args[0] ?? "unknown";
const text = () => "text";
const int4 = () => "int4";
const int8 = () => "int8";
const float8 = () => "float8";

const sumType = (args: string[]) => {
  const t = args[0] ?? "";
  if (t === "int2" || t === "int4") return "int8";
  if (t === "int8") return "numeric";
  if (t === "float4" || t === "float8") return "float8";
  return "numeric";
};

// Written with the 'now' modifier: SQLite evaluates it once per statement.
const NOW = "strftime('%Y-%m-%d %H:%M:%f+00', 'now')";
const UUID =
  "(lower(hex(randomblob(4))) || '-' || lower(hex(randomblob(2))) || '-4' || substr(lower(hex(randomblob(2))), 2) || '-' || substr('89ab', 1 + (abs(random()) % 4), 1) || substr(lower(hex(randomblob(2))), 2) || '-' || lower(hex(randomblob(6))))";

/**
 * A column DEFAULT as SQLite stores it (the emitter's spelling) back in the Postgres spelling a
 * client wrote and expects to read (GET /schema): `now()`, `gen_random_uuid()`; anything else,
 * a literal mostly, reads the same in both.
 */
export function postgresDefault(sqlite: string | null): string | null {
  if (sqlite === null) return null;
  if (sqlite === `(${NOW})`) return "now()";
  if (sqlite === `(${UUID})` || sqlite === UUID) return "gen_random_uuid()";
  return sqlite;
}

export const FUNCTIONS: Record<string, FunctionDef> = {
  count: { sqlite: "count", agg: true, ret: int8 },
  sum: { sqlite: "sum", agg: true, ret: sumType, minArgs: 1, maxArgs: 1 },
  avg: { sqlite: "avg", agg: true, ret: (a) => (a[0] === "float4" || a[0] === "float8" ? "float8" : "numeric"), minArgs: 1, maxArgs: 1 },
  min: { sqlite: "min", agg: true, ret: same, minArgs: 1, maxArgs: 1 },
  max: { sqlite: "max", agg: true, ret: same, minArgs: 1, maxArgs: 1 },
  total: { sqlite: "total", agg: true, ret: float8, minArgs: 1, maxArgs: 1 },
  string_agg: { sqlite: "group_concat", agg: true, ret: text, minArgs: 2, maxArgs: 2 },
  group_concat: { sqlite: "group_concat", agg: true, ret: text, minArgs: 1, maxArgs: 2 },
  bool_and: { sqlite: "min", agg: true, ret: () => "bool", minArgs: 1, maxArgs: 1 },
  bool_or: { sqlite: "max", agg: true, ret: () => "bool", minArgs: 1, maxArgs: 1 },
  every: { sqlite: "min", agg: true, ret: () => "bool", minArgs: 1, maxArgs: 1 },
  json_agg: { sqlite: "json_group_array", agg: true, ret: () => "json", minArgs: 1, maxArgs: 1 },
  jsonb_agg: { sqlite: "json_group_array", agg: true, ret: () => "jsonb", minArgs: 1, maxArgs: 1 },
  json_object_agg: { sqlite: "json_group_object", agg: true, ret: () => "json", minArgs: 2, maxArgs: 2 },
  jsonb_object_agg: { sqlite: "json_group_object", agg: true, ret: () => "jsonb", minArgs: 2, maxArgs: 2 },

  row_number: { sqlite: "row_number", window: true, ret: int8, maxArgs: 0 },
  rank: { sqlite: "rank", window: true, ret: int8, maxArgs: 0 },
  dense_rank: { sqlite: "dense_rank", window: true, ret: int8, maxArgs: 0 },
  percent_rank: { sqlite: "percent_rank", window: true, ret: float8, maxArgs: 0 },
  cume_dist: { sqlite: "cume_dist", window: true, ret: float8, maxArgs: 0 },
  ntile: { sqlite: "ntile", window: true, ret: int4, minArgs: 1, maxArgs: 1 },
  lag: { sqlite: "lag", window: true, ret: same, minArgs: 1, maxArgs: 3 },
  lead: { sqlite: "lead", window: true, ret: same, minArgs: 1, maxArgs: 3 },
  first_value: { sqlite: "first_value", window: true, ret: same, minArgs: 1, maxArgs: 1 },
  last_value: { sqlite: "last_value", window: true, ret: same, minArgs: 1, maxArgs: 1 },
  nth_value: { sqlite: "nth_value", window: true, ret: same, minArgs: 2, maxArgs: 2 },

  coalesce: { sqlite: "coalesce", ret: (a) => a.find((t) => t !== "unknown") ?? "unknown", minArgs: 1 },
  nullif: { sqlite: "nullif", ret: same, minArgs: 2, maxArgs: 2 },
  greatest: { sqlite: "max", ret: same, minArgs: 1 },
  least: { sqlite: "min", ret: same, minArgs: 1 },
  abs: { sqlite: "abs", ret: same, minArgs: 1, maxArgs: 1 },
  round: { sqlite: "round", ret: (a) => (a[0] === "float8" || a[0] === "float4" ? "float8" : "numeric"), minArgs: 1, maxArgs: 2 },
  ceil: { sqlite: "ceil", ret: same, minArgs: 1, maxArgs: 1 },
  ceiling: { sqlite: "ceil", ret: same, minArgs: 1, maxArgs: 1 },
  floor: { sqlite: "floor", ret: same, minArgs: 1, maxArgs: 1 },
  trunc: { sqlite: "(CASE WHEN $1 < 0 THEN ceil($1) ELSE floor($1) END)", ret: same, minArgs: 1, maxArgs: 1 },
  sqrt: { sqlite: "sqrt", ret: float8, minArgs: 1, maxArgs: 1 },
  power: { sqlite: "power", ret: float8, minArgs: 2, maxArgs: 2 },
  pow: { sqlite: "power", ret: float8, minArgs: 2, maxArgs: 2 },
  exp: { sqlite: "exp", ret: float8, minArgs: 1, maxArgs: 1 },
  ln: { sqlite: "ln", ret: float8, minArgs: 1, maxArgs: 1 },
  // libSQL's log() is the natural logarithm; Postgres's is base 10.
  log: { sqlite: "(ln($1) / ln(10))", ret: float8, minArgs: 1, maxArgs: 1 },
  log10: { sqlite: "(ln($1) / ln(10))", ret: float8, minArgs: 1, maxArgs: 1 },
  mod: { sqlite: "($1 % $2)", ret: (a) => (a.every(isIntegerType) ? (a[1] ?? "int4") : "numeric"), minArgs: 2, maxArgs: 2 },
  sign: { sqlite: "sign", ret: same, minArgs: 1, maxArgs: 1 },
  pi: { sqlite: "pi", ret: float8, maxArgs: 0 },
  random: { sqlite: "((abs(random()) % 9007199254740992) / 9007199254740992.0)", ret: float8, maxArgs: 0 },
  length: { sqlite: "length", ret: int4, minArgs: 1, maxArgs: 1 },
  char_length: { sqlite: "length", ret: int4, minArgs: 1, maxArgs: 1 },
  character_length: { sqlite: "length", ret: int4, minArgs: 1, maxArgs: 1 },
  octet_length: { sqlite: "octet_length", ret: int4, minArgs: 1, maxArgs: 1 },
  lower: { sqlite: "lower", ret: text, minArgs: 1, maxArgs: 1 },
  upper: { sqlite: "upper", ret: text, minArgs: 1, maxArgs: 1 },
  substr: { sqlite: "substr", ret: text, minArgs: 2, maxArgs: 3 },
  substring: { sqlite: "substr", ret: text, minArgs: 2, maxArgs: 3 },
  replace: { sqlite: "replace", ret: text, minArgs: 3, maxArgs: 3 },
  btrim: { sqlite: "trim", ret: text, minArgs: 1, maxArgs: 2 },
  ltrim: { sqlite: "ltrim", ret: text, minArgs: 1, maxArgs: 2 },
  rtrim: { sqlite: "rtrim", ret: text, minArgs: 1, maxArgs: 2 },
  strpos: { sqlite: "instr", ret: int4, minArgs: 2, maxArgs: 2 },
  concat: { sqlite: "concat", ret: text, minArgs: 1 },
  concat_ws: { sqlite: "concat_ws", ret: text, minArgs: 2 },
  left: { sqlite: "substr($1, 1, $2)", ret: text, minArgs: 2, maxArgs: 2 },
  right: { sqlite: "substr($1, -($2))", ret: text, minArgs: 2, maxArgs: 2 },
  repeat: { sqlite: "replace(printf('%.*c', $2, 'x'), 'x', $1)", ret: text, minArgs: 2, maxArgs: 2 },
  typeof: { sqlite: "typeof", ret: text, minArgs: 1, maxArgs: 1 },
  // A missing third argument is written as NULL, so coalesce() gives the default fill.
  lpad: {
    sqlite:
      "CASE WHEN length($1) >= $2 THEN substr($1, 1, $2) ELSE substr(replace(printf('%.*c', $2, 'x'), 'x', coalesce($3, ' ')), 1, $2 - length($1)) || $1 END",
    ret: text,
    minArgs: 2,
    maxArgs: 3,
  },
  rpad: {
    sqlite:
      "CASE WHEN length($1) >= $2 THEN substr($1, 1, $2) ELSE $1 || substr(replace(printf('%.*c', $2, 'x'), 'x', coalesce($3, ' ')), 1, $2 - length($1)) END",
    ret: text,
    minArgs: 2,
    maxArgs: 3,
  },
  starts_with: { sqlite: "(substr($1, 1, length($2)) = $2)", ret: () => "bool", minArgs: 2, maxArgs: 2 },
  // The string as a JSON array split at the delimiter; fields past the end are ''.
  split_part: {
    sqlite: "coalesce(json_extract('[' || replace(json_quote($1), $2, '\",\"') || ']', '$[' || ($3 - 1) || ']'), '')",
    ret: text,
    minArgs: 3,
    maxArgs: 3,
  },
  now: { sqlite: NOW, ret: () => "timestamptz", maxArgs: 0 },
  current_timestamp: { sqlite: NOW, ret: () => "timestamptz", maxArgs: 0 },
  transaction_timestamp: { sqlite: NOW, ret: () => "timestamptz", maxArgs: 0 },
  statement_timestamp: { sqlite: NOW, ret: () => "timestamptz", maxArgs: 0 },
  clock_timestamp: { sqlite: NOW, ret: () => "timestamptz", maxArgs: 0 },
  current_date: { sqlite: "date('now')", ret: () => "date", maxArgs: 0 },
  date_trunc: { sqlite: "date_trunc", ret: () => "timestamptz", minArgs: 2, maxArgs: 2 },
  gen_random_uuid: { sqlite: UUID, ret: () => "uuid", maxArgs: 0 },
  uuid_generate_v4: { sqlite: UUID, ret: () => "uuid", maxArgs: 0 },
  jsonb_build_object: { sqlite: "json_object", ret: () => "jsonb" },
  json_build_object: { sqlite: "json_object", ret: () => "json" },
  jsonb_build_array: { sqlite: "json_array", ret: () => "jsonb" },
  json_build_array: { sqlite: "json_array", ret: () => "json" },
  jsonb_array_length: { sqlite: "json_array_length", ret: int4, minArgs: 1, maxArgs: 1 },
  json_array_length: { sqlite: "json_array_length", ret: int4, minArgs: 1, maxArgs: 1 },
  jsonb_typeof: { sqlite: "json_type", ret: text, minArgs: 1, maxArgs: 1 },
  to_jsonb: { sqlite: "json_quote", ret: () => "jsonb", minArgs: 1, maxArgs: 1 },
  to_json: { sqlite: "json_quote", ret: () => "json", minArgs: 1, maxArgs: 1 },
  row_to_json: { sqlite: "json", ret: () => "json", minArgs: 1, maxArgs: 1 },
  version: { sqlite: "('PostgreSQL 15.0 (cave on SQLite ' || sqlite_version() || ')')", ret: text, maxArgs: 0 },
  numeric_to_int8: { sqlite: "CAST($1 AS INTEGER)", ret: int8, minArgs: 1, maxArgs: 1 },
};
