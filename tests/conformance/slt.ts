// A sqllogictest runner over cave's SQL engine: parses .test files, feeds every record through
// Engine.query (parse → plan → emit → execute), and formats results the way SQLite's
// reference runner does (I: integer, R: %.3f, T: text, NULL, (empty), md5 of hashed blocks).
// The engine names itself "sqlite" for skipif/onlyif: SQLite's semantics run underneath.
import { createHash } from "node:crypto";
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { Engine } from "../../src/db/engine.ts";
import { isDbError } from "../../src/db/errors.ts";
import { openStore } from "../../src/db/store/index.ts";

const ENGINE_NAME = "sqlite";

export interface SltRecord {
  line: number;
  kind: "statement" | "query" | "halt" | "hash-threshold";
  expectError: boolean;
  types: string;
  sort: "nosort" | "rowsort" | "valuesort";
  sql: string;
  expected: string[];
  skip: boolean;
  /** The record's skipif/onlyif lines. */
  conditions: string[];
}

export interface Failure {
  file: string;
  line: number;
  sql: string;
  cause: string;
  conditions: string[];
}

export interface FileResult {
  file: string;
  passed: number;
  failed: number;
  skipped: number;
  failures: Failure[];
}

export function parseSlt(text: string): SltRecord[] {
  const lines = text.split(/\r?\n/);
  const records: SltRecord[] = [];
  let i = 0;
  while (i < lines.length) {
    const raw = lines[i]!;
    if (raw.trim() === "" || raw.startsWith("#")) {
      i++;
      continue;
    }
    const start = i + 1;
    let skip = false;
    let header = raw;
    const conditions: string[] = [];
    while (/^(skipif|onlyif)\s/.test(header)) {
      conditions.push(header.trim());
      const [cond, engine] = header.split(/\s+/);
      if (cond === "skipif" && engine === ENGINE_NAME) skip = true;
      if (cond === "onlyif" && engine !== ENGINE_NAME) skip = true;
      i++;
      header = lines[i] ?? "";
    }
    const words = header.trim().split(/\s+/);
    i++;
    if (words[0] === "halt") {
      records.push({ line: start, kind: "halt", expectError: false, types: "", sort: "nosort", sql: "", expected: [], skip, conditions });
      continue;
    }
    if (words[0] === "hash-threshold") {
      records.push({ line: start, kind: "hash-threshold", expectError: false, types: "", sort: "nosort", sql: "", expected: [], skip, conditions });
      continue;
    }
    const sqlLines: string[] = [];
    while (i < lines.length && lines[i]!.trim() !== "" && lines[i] !== "----") sqlLines.push(lines[i++]!);
    const expected: string[] = [];
    if (lines[i] === "----") {
      i++;
      while (i < lines.length && lines[i]!.trim() !== "") expected.push(lines[i++]!);
    }
    if (words[0] === "statement") {
      records.push({ line: start, kind: "statement", expectError: words[1] === "error", types: "", sort: "nosort", sql: sqlLines.join("\n"), expected, skip, conditions });
    } else if (words[0] === "query") {
      const sort = (words[2] ?? "nosort") as SltRecord["sort"];
      records.push({ line: start, kind: "query", expectError: false, types: words[1] ?? "", sort, sql: sqlLines.join("\n"), expected, skip, conditions });
    }
  }
  return records;
}

function numericPrefix(s: string): number {
  const m = /^\s*[+-]?(\d+\.?\d*([eE][+-]?\d+)?|\.\d+([eE][+-]?\d+)?)/.exec(s);
  return m ? Number(m[0]) : 0;
}

function formatText(s: string): string {
  if (s === "") return "(empty)";
  let out = "";
  for (const ch of s) {
    const c = ch.charCodeAt(0);
    out += c < 0x20 || c > 0x7e ? "@" : ch;
  }
  return out;
}

/**
 * printf("%.3f") as SQLite's own printf does it: at most 16 significant digits, the rest
 * zeros (so -2^63 prints as -9223372036854776000.000).
 */
export function formatReal(n: number): string {
  if (!Number.isFinite(n)) return n > 0 ? "Inf" : n < 0 ? "-Inf" : "NaN";
  if (Math.abs(n) < 1e13) return n.toFixed(3);
  const text = Math.abs(n).toPrecision(16);
  const sign = n < 0 ? "-" : "";
  if (!text.includes("e")) {
    const [ip, fp = ""] = text.split(".");
    return `${sign}${ip}.${fp.padEnd(3, "0").slice(0, 3)}`;
  }
  const [mantissa, exp] = text.split("e");
  const digits = mantissa!.replace(".", "");
  const intLen = Number(exp ?? 0) + 1;
  const all = digits.padEnd(intLen + 3, "0");
  return `${sign}${all.slice(0, intLen)}.${all.slice(intLen, intLen + 3)}`;
}

export function formatValue(v: unknown, type: string): string {
  if (v === null || v === undefined) return "NULL";
  if (typeof v === "boolean") v = v ? 1 : 0;
  switch (type) {
    case "I": {
      if (typeof v === "bigint") return v.toString();
      const n = typeof v === "number" ? v : typeof v === "string" ? numericPrefix(v) : 0;
      const t = Math.trunc(n);
      return Object.is(t, -0) ? "0" : Number.isFinite(t) ? BigInt(t).toString() : String(t);
    }
    case "R": {
      const n = typeof v === "number" ? v : typeof v === "bigint" ? Number(v) : typeof v === "string" ? numericPrefix(v) : 0;
      return formatReal(n);
    }
    default: {
      if (typeof v === "string") return formatText(v);
      if (typeof v === "number") return formatText(Number.isInteger(v) ? String(v) : String(v));
      if (typeof v === "bigint") return v.toString();
      if (v instanceof Uint8Array) return formatText(Buffer.from(v).toString("latin1"));
      return formatText(JSON.stringify(v));
    }
  }
}

function compareRows(a: string[], b: string[]): number {
  for (let i = 0; i < a.length; i++) {
    if (a[i]! < b[i]!) return -1;
    if (a[i]! > b[i]!) return 1;
  }
  return 0;
}

function check(rec: SltRecord, rows: unknown[][], width: number): string | null {
  if (width !== rec.types.length) return `wrong column count: ${width} for types ${rec.types}`;
  let formatted = rows.map((r) => r.map((v, i) => formatValue(v, rec.types[i] ?? "T")));
  let values: string[];
  if (rec.sort === "rowsort") formatted = [...formatted].sort(compareRows);
  if (rec.sort === "valuesort") values = formatted.flat().sort();
  else values = formatted.flat();
  const hash = rec.expected.length === 1 ? /^(\d+) values hashing to ([0-9a-f]{32})$/.exec(rec.expected[0]!.trim()) : null;
  if (hash) {
    if (values.length !== Number(hash[1])) return `wrong result: ${values.length} values, expected ${hash[1]}`;
    const md5 = createHash("md5");
    for (const v of values) md5.update(`${v}\n`);
    return md5.digest("hex") === hash[2] ? null : "wrong result (hash mismatch)";
  }
  const expected = rec.expected.map((l) => l.trim());
  if (values.length === expected.length && values.every((v, i) => v === expected[i])) return null;
  const joined = formatted.map((r) => r.join(" "));
  if (joined.length === expected.length && joined.every((v, i) => v === expected[i])) return null;
  return `wrong result: got [${values.slice(0, 8).join(", ")}${values.length > 8 ? ", …" : ""}] expected [${expected.slice(0, 8).join(", ")}${expected.length > 8 ? ", …" : ""}]`;
}

function causeOf(e: unknown): string {
  if (isDbError(e)) return `${e.sqlstate} ${e.message}`;
  return `crash: ${e instanceof Error ? `${e.name}: ${e.message}` : String(e)}`;
}

export async function runFile(path: string): Promise<FileResult> {
  const records = parseSlt(readFileSync(path, "utf8"));
  const result: FileResult = { file: path, passed: 0, failed: 0, skipped: 0, failures: [] };
  const store = openStore(":memory:");
  const engine = await Engine.open(store);
  try {
    for (const rec of records) {
      if (rec.kind === "halt") {
        if (rec.skip) continue;
        break;
      }
      if (rec.kind === "hash-threshold") continue;
      if (rec.skip) {
        result.skipped++;
        continue;
      }
      let cause: string | null = null;
      try {
        const r = await engine.query(rec.sql);
        if (rec.kind === "statement") cause = rec.expectError ? "statement succeeded, expected an error" : null;
        else cause = check(rec, r.rows, r.columns.length);
      } catch (e) {
        if (!(rec.kind === "statement" && rec.expectError && isDbError(e))) cause = causeOf(e);
      }
      if (cause === null) result.passed++;
      else {
        result.failed++;
        result.failures.push({ file: path, line: rec.line, sql: rec.sql, cause, conditions: rec.conditions });
      }
    }
  } finally {
    engine.close();
  }
  return result;
}

/** Every .test file under the given files or folders, sorted. */
export function collectFiles(paths: string[]): string[] {
  const out: string[] = [];
  const walk = (p: string) => {
    if (statSync(p).isDirectory()) for (const e of readdirSync(p).sort()) walk(join(p, e));
    else if (p.endsWith(".test")) out.push(p);
  };
  for (const p of paths) walk(p);
  return out;
}

/** Groups failure causes into a short label: SQLSTATE + message with numbers and names elided. */
export function causeLabel(cause: string): string {
  if (cause.startsWith("wrong result")) return "wrong result";
  const state = cause.slice(0, 6);
  return state + cause.slice(6).replace(/"[^"]*"/g, '"…"').replace(/\d+/g, "N").slice(0, 100);
}
