// SQLite values → JS values by the column's Postgres type (bool → true/false, int8 → number
// or bigint past 2^53, jsonb → parsed, bytea → Uint8Array).

function toBool(v: unknown): unknown {
  if (typeof v === "number") return v !== 0;
  if (typeof v === "bigint") return v !== 0n;
  if (typeof v === "string") {
    const s = v.trim().toLowerCase();
    if (["t", "true", "y", "yes", "on", "1"].includes(s)) return true;
    if (["f", "false", "n", "no", "off", "0"].includes(s)) return false;
  }
  return v;
}

function toInt(v: unknown): unknown {
  if (typeof v === "bigint") return v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v;
  return v;
}

function toJson(v: unknown): unknown {
  if (typeof v !== "string") return v;
  try {
    return JSON.parse(v);
  } catch {
    return v;
  }
}

/** Postgres prints fractional seconds without trailing zeros: 12:00:00+00, 12:00:00.25+00. */
function toTimestampText(v: unknown): unknown {
  return typeof v === "string" ? v.replace(/(\d{2}:\d{2}:\d{2})(\.\d*?)0*(?=\+|$)/, (_m, hms: string, frac: string) => (frac === "." ? hms : hms + frac)) : v;
}

/** An interval held as seconds, printed as Postgres prints intervals: "1 day 02:00:00.5". */
export function intervalText(v: unknown): unknown {
  if (typeof v !== "number" && typeof v !== "bigint") return v;
  let s = Number(v);
  const sign = s < 0 ? "-" : "";
  s = Math.abs(s);
  const days = Math.floor(s / 86400);
  s -= days * 86400;
  const h = Math.floor(s / 3600);
  const m = Math.floor((s - h * 3600) / 60);
  const sec = Math.round((s - h * 3600 - m * 60) * 1e6) / 1e6;
  const [whole, frac] = String(sec).split(".");
  const clock = `${String(h).padStart(2, "0")}:${String(m).padStart(2, "0")}:${whole!.padStart(2, "0")}${frac ? `.${frac}` : ""}`;
  const dayPart = days ? `${sign}${days} day${days === 1 ? "" : "s"}` : "";
  if (dayPart && clock === "00:00:00") return dayPart;
  return dayPart ? `${dayPart} ${sign}${clock}` : `${sign}${clock}`;
}

export type Converter = ((v: unknown) => unknown) | null;

/** The converter for one result column, or null when values pass through unchanged. */
export function converterFor(type: string): Converter {
  switch (type.replace(/\(.*$/, "")) {
    case "bool":
      return toBool;
    case "int2":
    case "int4":
    case "int8":
      return toInt;
    case "json":
    case "jsonb":
      return toJson;
    case "timestamptz":
    case "timestamp":
      return toTimestampText;
    case "interval":
      return intervalText;
    case "bytea":
      return (v) => (v instanceof Uint8Array && v.constructor !== Uint8Array ? new Uint8Array(v) : v);
    default:
      return (v) => (typeof v === "bigint" ? toInt(v) : v);
  }
}

export function convertRows(rows: unknown[][], converters: Converter[]): unknown[][] {
  if (converters.every((c) => c === null)) return rows;
  for (const row of rows) {
    for (let i = 0; i < row.length; i++) {
      const c = converters[i];
      const v = row[i];
      if (c && v !== null && v !== undefined) row[i] = c(v);
    }
  }
  return rows;
}
