// What every `cave db` verb shares: the flags that pick the database, opening it (store
// alone, or the SQL engine over it), and printing results for people (a table) or machines
// (JSON). The database code loads here, lazily, never from `cave run`.
import { existsSync } from "node:fs";
import { dirname } from "node:path";
import type { QueryResult } from "../../../db/types.ts";
import type { Store } from "../../../db/store/types.ts";
import type { DbLocation } from "../../../db/paths.ts";
import { dataDirArgs } from "../../data-dir.ts";

export const dbArgs = {
  url: {
    type: "string",
    description:
      "Database to open: a path, file:/abs.db, :memory:, or libsql://, http(s)://, ws(s):// (default <data dir>/cave.db).",
  },
  ...dataDirArgs,
} as const;

export interface DbFlags {
  url?: string | undefined;
  "data-dir"?: string | undefined;
  config?: string | undefined;
}

export async function locate(flags: DbFlags): Promise<DbLocation> {
  const { findProjectConfig, loadConfigFile } = await import("../../../core/config.ts");
  const { resolveDbLocation } = await import("../../../db/paths.ts");
  const configPath = flags.config || findProjectConfig(process.cwd());
  const config = configPath ? loadConfigFile(configPath).db : undefined;
  return resolveDbLocation({ flags: { url: flags.url, dataDir: flags["data-dir"] }, config });
}

/** Opens the store; the default database's data directory is created on first use. */
export async function openDbStore(loc: DbLocation): Promise<Store> {
  const { ensureDataDir } = await import("../../../db/paths.ts");
  const { openStore, parseStoreUrl } = await import("../../../db/store/index.ts");
  const target = parseStoreUrl(loc.url);
  if (loc.urlSource === "default") ensureDataDir(loc.dataDir);
  else if (target.kind === "local" && target.path !== ":memory:" && !existsSync(dirname(target.path))) {
    const { CaveError } = await import("../../../core/errors.ts");
    throw new CaveError("DB_DATA_DIR", `the directory of ${target.path} does not exist`, {
      hint: "create it, or give another --url",
    });
  }
  return openStore(loc.url);
}

/**
 * Every value of a repeatable option, in order: citty keeps only the last of `--param a
 * --param b`. Reads `--name V` and `--name=V` up to a lone `--`.
 */
export function repeated(rawArgs: readonly string[], name: string): string[] {
  const out: string[] = [];
  for (let i = 0; i < rawArgs.length; i++) {
    const a = rawArgs[i] as string;
    if (a === "--") break;
    if (a === `--${name}`) {
      const v = rawArgs[++i];
      if (v !== undefined) out.push(v);
    } else if (a.startsWith(`--${name}=`)) out.push(a.slice(name.length + 3));
  }
  return out;
}

/** One value as psql prints it: NULL empty, booleans t/f, bytes as \x hex, JSON as text. */
export function formatValue(v: unknown): string {
  if (v === null || v === undefined) return "";
  if (typeof v === "boolean") return v ? "t" : "f";
  if (typeof v === "string") return v;
  if (typeof v === "number" || typeof v === "bigint") return String(v);
  if (v instanceof Uint8Array) return `\\x${Buffer.from(v).toString("hex")}`;
  if (v instanceof Date) return v.toISOString();
  return JSON.stringify(v, jsonReplacer);
}

/** JSON for machines: bigint as a string (exact), bytes as \x hex, like Postgres's text forms. */
export function jsonReplacer(_key: string, v: unknown): unknown {
  if (typeof v === "bigint") return v.toString();
  if (v instanceof Uint8Array) return `\\x${Buffer.from(v).toString("hex")}`;
  return v;
}

const NUMERIC =
  /^(?:int[248]?|integer|bigint|smallint|numeric|decimal|real|double precision|float[48]?|serial|bigserial)$/i;

/** A result as psql's aligned format: header, rule, rows, "(N rows)"; or the command tag. */
export function formatTable(r: QueryResult): string {
  if (r.columns.length === 0) return `${r.command}\n`;
  const cells = r.rows.map((row) => row.map(formatValue));
  const widths = r.columns.map((c, i) => Math.max(width(c.name), ...cells.map((row) => width(row[i] ?? ""))));
  const right = r.columns.map((c) => NUMERIC.test(c.type));
  const line = (values: string[], align: boolean[]) =>
    values
      .map((v, i) => {
        const pad = " ".repeat((widths[i] ?? 0) - width(v));
        return align[i] ? `${pad}${v}` : i === values.length - 1 ? v : `${v}${pad}`;
      })
      .map((v, i, all) => (i === 0 ? ` ${v}` : v) + (i === all.length - 1 ? "" : " | "))
      .join("")
      .replace(/\s+$/, "");
  const header = r.columns.map((c, i) => {
    const w = widths[i] ?? 0;
    const left = Math.floor((w - width(c.name)) / 2);
    return " ".repeat(left) + c.name + " ".repeat(w - width(c.name) - left);
  });
  const out = [
    line(
      header,
      r.columns.map(() => false),
    ),
    widths.map((w) => "-".repeat(w + 2)).join("+"),
    ...cells.map((row) => line(row, right)),
    `(${r.rows.length} ${r.rows.length === 1 ? "row" : "rows"})`,
  ];
  return `${out.join("\n")}\n`;
}

function width(s: string): number {
  let n = 0;
  for (const _ of s) n++;
  return n;
}

/** One result as one JSON line. */
export function formatJson(r: QueryResult): string {
  return `${JSON.stringify(
    { command: r.command, columns: r.columns, rows: r.rows, rowCount: r.rowCount },
    jsonReplacer,
  )}\n`;
}
