// Where cave keeps its data, and which database `cave db` and the servers open.
//
// Data directory, first that is set:
//   1. --data-dir
//   2. CAVE_DATA_DIR
//   3. cave.yaml `db.data_dir`
//   4. /var/lib/cave for root; otherwise $XDG_DATA_HOME/cave, or ~/.local/share/cave.
// Database, first that is set: --url, CAVE_DB_URL, cave.yaml `db.url`, else <data dir>/cave.db.
// docs/operations.md documents the same order; keep them together.
import { mkdirSync } from "node:fs";
import { homedir } from "node:os";
import { isAbsolute, join, resolve } from "node:path";
import { CaveError } from "../core/errors.ts";

export const DATABASE_FILE = "cave.db";
export const HISTORY_FILE = "db_history";

export type Source = "flag" | "env" | "config" | "default";

export interface DbSettingsInput {
  flags?: { url?: string | undefined; dataDir?: string | undefined };
  /** cave.yaml's `db` section, already validated. */
  config?: { url?: string | undefined; data_dir?: string | undefined } | undefined;
  env?: Record<string, string | undefined>;
  uid?: number;
  cwd?: string;
}

export interface DbLocation {
  dataDir: string;
  dataDirSource: Source;
  /** A path, :memory: or a remote URL, as openStore takes it. */
  url: string;
  urlSource: Source;
}

/** The built-in data directory for a user: /var/lib/cave for root, else under XDG_DATA_HOME. */
export function defaultDataDir(uid: number, env: Record<string, string | undefined>): string {
  if (uid === 0) return "/var/lib/cave";
  // The XDG spec says to ignore a relative XDG_DATA_HOME.
  const xdg = env.XDG_DATA_HOME;
  if (xdg && isAbsolute(xdg)) return join(xdg, "cave");
  const home = env.HOME && isAbsolute(env.HOME) ? env.HOME : homedir();
  return join(home, ".local", "share", "cave");
}

export function resolveDbLocation(input: DbSettingsInput = {}): DbLocation {
  const env = input.env ?? process.env;
  const cwd = input.cwd ?? process.cwd();
  const uid = input.uid ?? process.getuid?.() ?? 1;
  const flags = input.flags ?? {};
  const config = input.config ?? {};

  const nonEmpty = (v: string | undefined, what: string): string | undefined => {
    if (v === undefined) return undefined;
    if (v.trim() === "")
      throw new CaveError("USAGE", `${what} is empty`, { hint: "give a directory, or leave it unset" });
    return v;
  };
  let dataDir: string;
  let dataDirSource: Source;
  const flagDir = nonEmpty(flags.dataDir, "--data-dir");
  const envDir = flagDir === undefined ? nonEmpty(env.CAVE_DATA_DIR, "CAVE_DATA_DIR") : undefined;
  if (flagDir !== undefined) [dataDir, dataDirSource] = [resolve(cwd, flagDir), "flag"];
  else if (envDir !== undefined) [dataDir, dataDirSource] = [resolve(cwd, envDir), "env"];
  else if (config.data_dir !== undefined) [dataDir, dataDirSource] = [config.data_dir, "config"];
  else [dataDir, dataDirSource] = [defaultDataDir(uid, env), "default"];

  const flagUrl = nonEmpty(flags.url, "--url");
  const envUrl = flagUrl === undefined ? nonEmpty(env.CAVE_DB_URL, "CAVE_DB_URL") : undefined;
  if (flagUrl !== undefined) return { dataDir, dataDirSource, url: flagUrl, urlSource: "flag" };
  if (envUrl !== undefined) return { dataDir, dataDirSource, url: envUrl, urlSource: "env" };
  if (config.url !== undefined) return { dataDir, dataDirSource, url: config.url, urlSource: "config" };
  return { dataDir, dataDirSource, url: join(dataDir, DATABASE_FILE), urlSource: "default" };
}

/** Creates the data directory (owner-only) when missing; says what to do when it cannot. */
export function ensureDataDir(dir: string): void {
  try {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new CaveError("DB_DATA_DIR", `cannot create the data directory ${dir}: ${code ?? (e as Error).message}`, {
      hint: "set CAVE_DATA_DIR or --data-dir to a writable directory",
      cause: e,
    });
  }
}
