// Numbered migrations: files named 001_create_users.sql, 002_….sql in one directory, each
// applied once, in number order, inside its own transaction, and recorded in the table
// cave_migrations together with a checksum. A failing file rolls back and stops the run;
// the files before it stay applied. Statements go through the SQL engine like any other.
import { createHash } from "node:crypto";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { CaveError } from "../core/errors.ts";
import type { SqlEngine } from "./types.ts";
import { splitStatements } from "./script.ts";

export const MIGRATIONS_TABLE = "cave_migrations";
const FILE = /^(\d+)_([A-Za-z0-9][\w.-]*)\.sql$/;

export interface MigrationFile {
  version: number;
  name: string;
  file: string;
  path: string;
}

export interface MigrateReport {
  applied: { version: number; file: string; statements: number }[];
  /** Files already recorded before this run. */
  skipped: number;
  /** Recorded files whose content changed since they were applied (not applied again). */
  changed: string[];
}

/** The migration files of `dir`, in order; other files are ignored, duplicate numbers refused. */
export function listMigrations(dir: string): MigrationFile[] {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch (e) {
    throw new CaveError(
      "DB_MIGRATION_DIR",
      `cannot read the migrations directory ${dir}: ${(e as NodeJS.ErrnoException).code ?? e}`,
      {
        hint: "give the directory: cave db migrate DIR (default ./migrations)",
        cause: e,
      },
    );
  }
  const files: MigrationFile[] = [];
  const seen = new Map<number, string>();
  for (const file of names.sort()) {
    const m = FILE.exec(file);
    if (!m) continue;
    const version = Number(m[1]);
    const other = seen.get(version);
    if (other) {
      throw new CaveError("DB_MIGRATION_DIR", `${file} and ${other} have the same number ${version}`, {
        hint: "give each migration its own number",
      });
    }
    seen.set(version, file);
    files.push({ version, name: m[2] as string, file, path: join(dir, file) });
  }
  return files.sort((a, b) => a.version - b.version);
}

export async function migrate(engine: SqlEngine, dir: string): Promise<MigrateReport> {
  const files = listMigrations(dir);
  await engine.query(
    `CREATE TABLE IF NOT EXISTS ${MIGRATIONS_TABLE} (version bigint PRIMARY KEY, name text NOT NULL, checksum text NOT NULL, applied_at text NOT NULL)`,
  );
  const done = new Map<number, string>();
  for (const row of (await engine.query(`SELECT version, checksum FROM ${MIGRATIONS_TABLE}`)).rows) {
    done.set(Number(row[0]), String(row[1]));
  }
  const report: MigrateReport = { applied: [], skipped: 0, changed: [] };
  for (const m of files) {
    const text = readFileSync(m.path, "utf8");
    const checksum = createHash("sha256").update(text).digest("hex");
    const recorded = done.get(m.version);
    if (recorded !== undefined) {
      report.skipped++;
      if (recorded !== checksum) report.changed.push(m.file);
      continue;
    }
    // The last statement may go without its ';'.
    const { statements } = splitStatements(`${text}\n;`);
    await engine.query("BEGIN");
    let at = 0;
    try {
      for (const [i, s] of statements.entries()) {
        at = i;
        await engine.query(s.text);
      }
      await engine.query(
        `INSERT INTO ${MIGRATIONS_TABLE} (version, name, checksum, applied_at) VALUES ($1, $2, $3, $4)`,
        [m.version, m.file, checksum, new Date().toISOString()],
      );
      await engine.query("COMMIT");
    } catch (e) {
      await engine.query("ROLLBACK").catch(() => {
        // The failure may already have ended the transaction; the rollback is best effort
        // only because nothing of this file was committed either way.
      });
      const where = statements[at] ? `line ${statements[at]?.line}` : "at the end";
      throw new CaveError("DB_MIGRATION_FAILED", `${m.file}, ${where}: ${(e as Error).message}`, {
        hint: `fix ${m.file} and run cave db migrate again; the migrations before it are applied`,
        cause: e,
      });
    }
    report.applied.push({ version: m.version, file: m.file, statements: statements.length });
  }
  return report;
}
