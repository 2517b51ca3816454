// A throwaway PostgreSQL 15 for the oracle tests: initdb + pg_ctl on a temp dir and a free
// 127.0.0.1 port, stopped and removed by `stop()`. PostgreSQL refuses to run as root, so as root
// the server binaries run as the `postgres` user (Debian's package creates it); as any other
// user they run as that user. Tests ask `postgresUnavailable()` first and skip with its reason.
import { chmodSync, existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

export const PG_BIN = "/usr/lib/postgresql/15/bin";

export interface ThrowawayPostgres {
  host: "127.0.0.1";
  port: number;
  /** The superuser, trusted on 127.0.0.1 (initdb -A trust). */
  user: "postgres";
  /** Stops the server (immediate) and removes its directory; safe to call twice. */
  stop(): void;
}

const isRoot = () => process.getuid?.() === 0;

function userExists(name: string): boolean {
  return Bun.spawnSync(["id", "-u", name], { stdout: "ignore", stderr: "ignore" }).exitCode === 0;
}

/** Why a throwaway PostgreSQL 15 cannot be started here, or null when it can. */
export function postgresUnavailable(): string | null {
  if (!existsSync(`${PG_BIN}/initdb`) || !existsSync(`${PG_BIN}/pg_ctl`))
    return `PostgreSQL 15's server binaries are not installed (${PG_BIN}/initdb; Debian package postgresql-15)`;
  if (isRoot() && !userExists("postgres")) return "running as root and there is no postgres user to run the server as";
  return null;
}

function shellQuote(s: string): string {
  return `'${s.replaceAll("'", `'\\''`)}'`;
}

/** Runs a server binary as a user PostgreSQL accepts; throws with its stderr when it fails. */
function runServerTool(args: string[], what: string): void {
  const argv = isRoot() ? ["su", "postgres", "-s", "/bin/sh", "-c", args.map(shellQuote).join(" ")] : args;
  const p = Bun.spawnSync(argv, { stdout: "pipe", stderr: "pipe" });
  if (p.exitCode !== 0) throw new Error(`${what} failed (exit ${p.exitCode}): ${p.stderr.toString().trim()}`);
}

function freePort(): number {
  const listener = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
  const port = listener.port;
  listener.stop(true);
  return port;
}

/** Starts a fresh PostgreSQL 15 cluster; the caller must `stop()` it (afterAll). */
export function startPostgres(): ThrowawayPostgres {
  const reason = postgresUnavailable();
  if (reason) throw new Error(reason);
  const dir = mkdtempSync(join(tmpdir(), "cave-pg-"));
  // The postgres user writes the cluster and its socket here.
  chmodSync(dir, 0o777);
  const data = join(dir, "data");
  let started = false;
  const stop = () => {
    if (started) {
      started = false;
      try {
        runServerTool([`${PG_BIN}/pg_ctl`, "-D", data, "-m", "immediate", "-w", "stop"], "pg_ctl stop");
      } catch {
        // already stopped (or never fully started): the directory is removed below regardless
      }
    }
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    runServerTool(
      [`${PG_BIN}/initdb`, "-D", data, "-A", "trust", "-U", "postgres", "--no-sync", "-E", "UTF8"],
      "initdb",
    );
    const port = freePort();
    started = true;
    runServerTool(
      [
        `${PG_BIN}/pg_ctl`,
        "-D",
        data,
        "-w",
        "-l",
        join(dir, "log"),
        "-o",
        `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c fsync=off`,
        "start",
      ],
      "pg_ctl start",
    );
    return { host: "127.0.0.1", port, user: "postgres", stop };
  } catch (e) {
    stop();
    throw e;
  }
}

/** The slice of node-postgres (`pg`, which ships no types) the oracles use. */
export interface PgResult {
  rows: unknown[][];
  rowCount: number | null;
  fields: { name: string }[];
}
export interface PgClient {
  query(query: { text: string; values?: unknown[]; rowMode: "array" }): Promise<PgResult>;
  query(text: string): Promise<unknown>;
  end(): Promise<void>;
}
/** What node-postgres throws for a server error: `code` is the SQLSTATE. */
export interface PgServerError extends Error {
  code: string;
}
export const isPgServerError = (e: unknown): e is PgServerError =>
  e instanceof Error &&
  typeof (e as { code?: unknown }).code === "string" &&
  /^[0-9A-Z]{5}$/.test((e as PgServerError).code);

/** A node-postgres client connected to the throwaway server as its superuser. */
export async function connectPg(server: ThrowawayPostgres, database = "postgres"): Promise<PgClient> {
  const { Client } = require("pg") as { Client: new (config: object) => PgClient & { connect(): Promise<void> } };
  const client = new Client({ host: server.host, port: server.port, user: server.user, database });
  await client.connect();
  return client;
}
