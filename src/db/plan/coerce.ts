// Values into Postgres types: literals at plan time (so '1x'::int fails like Postgres, 22P02)
// and bound parameters at execution time, into the SQLite storage class cave keeps for each type.
import { DbError, SQLSTATE } from "../errors.ts";
import type { StoreValue } from "../store/types.ts";
import type { BExpr } from "./expr-types.ts";

const DISPLAY: Record<string, string> = {
  int2: "smallint",
  int4: "integer",
  int8: "bigint",
  float4: "real",
  float8: "double precision",
  numeric: "numeric",
  bool: "boolean",
  uuid: "uuid",
  json: "json",
  jsonb: "json",
  timestamptz: "timestamp with time zone",
  timestamp: "timestamp without time zone",
  date: "date",
  bytea: "bytea",
};

export function typeDisplayName(t: string): string {
  return DISPLAY[t] ?? t;
}

function invalid(type: string, text: string, position = 0): DbError {
  return new DbError(SQLSTATE.invalidTextRepresentation, `invalid input syntax for type ${typeDisplayName(type)}: "${text}"`, {
    position,
  });
}

const INT_RANGE: Record<string, [bigint, bigint]> = {
  int2: [-32768n, 32767n],
  int4: [-2147483648n, 2147483647n],
  int8: [-9223372036854775808n, 9223372036854775807n],
};

const UUID_RE = /^\{?([0-9a-f]{8})-?([0-9a-f]{4})-?([0-9a-f]{4})-?([0-9a-f]{4})-?([0-9a-f]{12})\}?$/i;
const TRUE_WORDS = new Set(["t", "true", "y", "yes", "on", "1"]);
const FALSE_WORDS = new Set(["f", "false", "n", "no", "off", "0"]);

function parseInteger(type: string, text: string, position: number): number | bigint {
  const s = text.trim();
  if (!/^[+-]?\d+$/.test(s)) throw invalid(type, text, position);
  const n = BigInt(s);
  const [lo, hi] = INT_RANGE[type] ?? INT_RANGE.int8!;
  if (n < lo || n > hi)
    throw new DbError(SQLSTATE.numericOutOfRange, `value "${text}" is out of range for type ${typeDisplayName(type)}`, {
      position,
    });
  return n >= BigInt(Number.MIN_SAFE_INTEGER) && n <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(n) : n;
}

function parseNumber(type: string, text: string, position: number): number {
  const s = text.trim();
  const lower = s.toLowerCase();
  if (lower === "nan") return Number.NaN;
  if (lower === "infinity" || lower === "+infinity") return Number.POSITIVE_INFINITY;
  if (lower === "-infinity") return Number.NEGATIVE_INFINITY;
  if (!/^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/.test(s)) throw invalid(type, text, position);
  return Number(s);
}

function parseBool(text: string, position: number): 0 | 1 {
  const s = text.trim().toLowerCase();
  if (TRUE_WORDS.has(s)) return 1;
  if (FALSE_WORDS.has(s)) return 0;
  throw invalid("bool", text, position);
}

function parseUuid(text: string, position: number): string {
  const m = UUID_RE.exec(text.trim());
  if (!m) throw invalid("uuid", text, position);
  return `${m[1]}-${m[2]}-${m[3]}-${m[4]}-${m[5]}`.toLowerCase();
}

function pad(n: number, w = 2): string {
  return String(n).padStart(w, "0");
}

/** A Date as cave stores timestamptz: UTC, milliseconds, Postgres's +00 suffix. */
export function formatTimestamp(d: Date): string {
  return `${d.getUTCFullYear()}-${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())} ${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())}.${pad(d.getUTCMilliseconds(), 3)}+00`;
}

function parseTimestamp(type: string, text: string, position: number): string {
  const s = text.trim();
  const lower = s.toLowerCase();
  if (lower === "now") return formatTimestamp(new Date());
  const m = /^(\d{4}-\d{2}-\d{2})(?:[ T](\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?)\s*(Z|[+-]\d{2}(?::?\d{2})?)?)?$/i.exec(s);
  if (!m) throw invalid(type, text, position);
  let zone = type === "timestamp" ? "Z" : (m[3] ?? "Z");
  if (/^[+-]\d{2}$/.test(zone)) zone += ":00";
  else if (/^[+-]\d{4}$/.test(zone)) zone = `${zone.slice(0, 3)}:${zone.slice(3)}`;
  const d = new Date(`${m[1]}T${m[2] ?? "00:00:00"}${zone.toUpperCase()}`);
  if (Number.isNaN(d.getTime())) throw invalid(type, text, position);
  const out = formatTimestamp(d);
  return type === "timestamp" ? out.slice(0, -3) : out;
}

function parseJson(type: string, text: string, position: number): string {
  try {
    const v = JSON.parse(text);
    return type === "jsonb" ? JSON.stringify(v) : text;
  } catch {
    throw invalid(type, text, position);
  }
}

/** Text as a value of `type`, in cave's storage form; throws 22P02 like Postgres's input functions. */
export function fromText(type: string, text: string, position = 0): StoreValue {
  const base = type.replace(/\(.*$/, "");
  switch (base) {
    case "int2":
    case "int4":
    case "int8":
      return parseInteger(base, text, position);
    case "float4":
    case "float8":
    case "numeric":
      return parseNumber(base, text, position);
    case "bool":
      return parseBool(text, position);
    case "uuid":
      return parseUuid(text, position);
    case "json":
    case "jsonb":
      return parseJson(base, text, position);
    case "timestamptz":
    case "timestamp":
      return parseTimestamp(base, text, position);
    case "date": {
      if (!/^\d{4}-\d{2}-\d{2}$/.test(text.trim()) || Number.isNaN(new Date(`${text.trim()}T00:00:00Z`).getTime()))
        throw invalid("date", text, position);
      return text.trim();
    }
    default:
      return text;
  }
}

/** A literal cast at plan time: the literal in the target type, or null to cast at run time. */
export function coerceLiteral(e: BExpr, type: string, position: number, lenient: boolean): BExpr | null {
  if (e.k === "null") return { k: "null", type };
  let text: string;
  if (e.k === "str") text = e.value;
  else if (e.k === "num") {
    if (["int2", "int4", "int8"].includes(type) && /[.eE]/.test(e.text)) return null;
    text = e.text;
  } else if (e.k === "bool") {
    if (type === "bool") return e;
    if (type === "text" || type === "varchar") return { k: "str", value: e.value ? "true" : "false", type };
    if (type === "int4") return { k: "num", text: e.value ? "1" : "0", type };
    return null;
  } else return null;
  let v: StoreValue;
  try {
    v = fromText(type, text, position);
  } catch (err) {
    if (lenient) return { k: "null", type };
    throw err;
  }
  if (type === "bool") return { k: "bool", value: v === 1, type };
  if (typeof v === "number" || typeof v === "bigint") {
    if (Number.isNaN(v) || !Number.isFinite(Number(v))) return { k: "str", value: String(v), type };
    return { k: "num", text: typeof v === "bigint" ? v.toString() : String(text).trim().replace(/^\+/, ""), type };
  }
  if (v === null) return { k: "null", type };
  if (typeof v === "string") return { k: "str", value: v, type };
  return null;
}

/** A JS value bound to a parameter of `type` ("" or "unknown": by its JS type), in storage form. */
export function coerceParam(value: unknown, type: string, index: number): StoreValue {
  if (value === null || value === undefined) return null;
  const base = type.replace(/\(.*$/, "");
  if (value instanceof Date) {
    if (Number.isNaN(value.getTime())) throw invalid(base || "timestamptz", String(value));
    const s = formatTimestamp(value);
    return base === "timestamp" ? s.slice(0, -3) : base === "date" ? s.slice(0, 10) : s;
  }
  if (base === "array") {
    // x = ANY($1): the array travels as JSON and is read with json_each.
    if (Array.isArray(value)) return JSON.stringify(value, (_k, v) => (typeof v === "bigint" ? v.toString() : v));
    if (typeof value === "string" && /^\{.*\}$/s.test(value.trim())) {
      const inner = value.trim().slice(1, -1).trim();
      return JSON.stringify(inner === "" ? [] : inner.split(",").map((x) => x.trim().replace(/^"(.*)"$/s, "$1")));
    }
    throw new DbError(SQLSTATE.datatypeMismatch, `parameter $${index} must be an array for ANY/ALL`);
  }
  if (value instanceof Uint8Array) return value;
  if (value instanceof ArrayBuffer) return new Uint8Array(value);
  switch (typeof value) {
    case "boolean":
      if (base === "text" || base === "varchar") return value ? "true" : "false";
      if (base === "json" || base === "jsonb") return JSON.stringify(value);
      return value ? 1 : 0;
    case "number":
      if (base === "json" || base === "jsonb") return JSON.stringify(value);
      if (base === "text" || base === "varchar" || base === "bpchar") return String(value);
      if ((base === "int2" || base === "int4" || base === "int8") && !Number.isInteger(value))
        throw invalid(base, String(value));
      if (base === "bool") return value === 0 ? 0 : 1;
      return value;
    case "bigint":
      if (base === "text" || base === "varchar" || base === "json" || base === "jsonb") return value.toString();
      return value;
    case "string":
      if (!base || base === "unknown" || base === "text" || base === "varchar" || base === "bpchar") return value;
      return fromText(base, value);
    case "object":
      if (base === "text" || base === "varchar" || base === "json" || base === "jsonb" || !base || base === "unknown")
        return JSON.stringify(value);
      throw new DbError(SQLSTATE.datatypeMismatch, `parameter $${index} of type ${typeDisplayName(base)} cannot be an object`);
    default:
      throw new DbError(SQLSTATE.datatypeMismatch, `parameter $${index} has an unsupported value of type ${typeof value}`);
  }
}
