// The lifecycle of persistent sandboxes: create, start, exec (and file copies), stop, rm,
// list, inspect, recover, with their state in the embedded database (tables cave_sandboxes and
// cave_executions) and their disks under <data dir>/sandboxes/<id>/. The CLI uses it directly
// (no daemon): every cave process that opens the data directory sees the same sandboxes, and a
// sandbox started by one process is exec'd, stopped or removed by another. `cave serve`
// (http.ts) puts the same module behind HTTP.
import { closeSync, existsSync, mkdirSync, openSync, realpathSync, rmSync } from "node:fs";
import { join } from "node:path";
import * as libc from "../../ffi/libc.ts";
import { capabilityMask } from "../core/capabilities.ts";
import type { RunSettings } from "../core/config.ts";
import { CaveError } from "../core/errors.ts";
import { Engine } from "../db/engine.ts";
import { converterFor } from "../db/exec/convert.ts";
import { toDbError } from "../db/exec/errors.ts";
import { ensureDataDir } from "../db/paths.ts";
import { openStore, type StoreValue } from "../db/store/index.ts";
import { boxCgroupManager, listBoxCgroups, probeCgroups, type Usage } from "../sandbox/cgroups/index.ts";
import { createDiskImage } from "../sandbox/disk.ts";
import { type CapturedResult, type ExecIo, execCaptured, execPersistent, execRaw, type RawResult } from "../sandbox/exec.ts";
import { type InitHandle, isAlive, reapIfChild, startPersistent, stopPersistent } from "../sandbox/persistent.ts";
import type { ExecSpec, Rlimit } from "../sandbox/plan.ts";
import type { RunOptions, RunResult } from "../sandbox/run.ts";
import { buildSeccompFilter } from "../sandbox/seccomp/index.ts";

export type SandboxStatus = "created" | "running" | "stopped" | "lost";

/** What a sandbox is made with: `cave run`'s settings, stored as JSON (Infinity as null). */
export type SandboxConfig = RunSettings;

export interface Sandbox {
  id: string;
  name: string | null;
  status: SandboxStatus;
  config: SandboxConfig;
  initPid: number | null;
  createdAt: string;
  startedAt: string | null;
  stoppedAt: string | null;
  /** The namespace of the API key that made it (cave serve's roles); null when made without one. */
  namespace: string | null;
}

export interface Execution {
  id: number;
  sandboxId: string;
  argv: string[];
  exitCode: number | null;
  signal: string | null;
  reason: string | null;
  durationMs: number | null;
  startedAt: string;
  finishedAt: string | null;
}

export interface ExecRequest {
  argv: string[];
  env?: Record<string, string>;
  workdir?: string;
  timeoutMs?: number;
  /** Give the command a pseudo-terminal relayed to this process's terminal (the CLI in one). */
  tty?: boolean;
  /** Filled with the setup phases' ends ([name, performance.now()]) for the server's spans. */
  phases?: [string, number][];
}

const SCHEMA = [
  `CREATE TABLE IF NOT EXISTS cave_sandboxes (
     id text PRIMARY KEY,
     name text UNIQUE,
     status text NOT NULL CHECK (status IN ('created', 'running', 'stopped', 'lost')),
     config jsonb NOT NULL,
     init_pid integer,
     init_start_time text,
     created_at timestamptz NOT NULL DEFAULT now(),
     started_at timestamptz,
     stopped_at timestamptz,
     namespace text)`,
  `CREATE TABLE IF NOT EXISTS cave_executions (
     id bigserial PRIMARY KEY,
     sandbox_id text NOT NULL REFERENCES cave_sandboxes (id) ON DELETE CASCADE,
     argv jsonb NOT NULL,
     exit_code integer,
     signal text,
     reason text,
     duration_ms double precision,
     started_at timestamptz NOT NULL,
     finished_at timestamptz)`,
];

/** The names of the tables above, as SQLite keeps them. */
const TABLES = ["cave_sandboxes", "cave_executions"];

// The lifecycle's own statements go straight to the store as constant SQLite SQL with bound
// parameters (?1, ?2, …), not through the engine: the engine parses Postgres SQL with the WASM
// parser, whose first use costs ~70 ms per cave process, and every CLI verb (ls, exec, start…)
// is its own process. They read and write exactly what the engine's own plans of the former
// Postgres statements did (checked against its emitted SQL): timestamptz as
// 'YYYY-MM-DD HH:MM:SS.mmm+00' text in UTC (now() is the strftime below), jsonb as compact JSON
// text, and values read back through the engine's converters, so rows written either way are
// the same and `cave db query` keeps reading them with their Postgres types.
const NOW = "strftime('%Y-%m-%d %H:%M:%f+00', 'now')";
const COLUMNS = "id, name, status, config, init_pid, init_start_time, created_at, started_at, stopped_at, namespace";
const SQL = {
  tablesPresent: `SELECT count(*) FROM sqlite_schema WHERE type = 'table' AND name IN ('cave_sandboxes', 'cave_executions')`,
  sandboxColumns: `SELECT name FROM pragma_table_info('cave_sandboxes')`,
  insertSandbox: `INSERT INTO cave_sandboxes (id, name, status, config, namespace) VALUES (?1, ?2, 'created', ?3, ?4)`,
  deleteSandbox: `DELETE FROM cave_sandboxes WHERE id = ?1`,
  sandboxByRef: `SELECT ${COLUMNS} FROM cave_sandboxes WHERE id = ?1 OR name = ?1`,
  sandboxById: `SELECT ${COLUMNS} FROM cave_sandboxes WHERE id = ?1`,
  sandboxes: `SELECT ${COLUMNS} FROM cave_sandboxes ORDER BY created_at, id`,
  markLost: `UPDATE cave_sandboxes SET status = 'lost', stopped_at = ${NOW} WHERE id = ?1 AND status = 'running'`,
  initOf: `SELECT init_pid, init_start_time FROM cave_sandboxes WHERE id = ?1`,
  markRunning: `UPDATE cave_sandboxes SET status = 'running', init_pid = ?2, init_start_time = ?3, started_at = ${NOW}, stopped_at = NULL WHERE id = ?1`,
  markStopped: `UPDATE cave_sandboxes SET status = 'stopped', init_pid = NULL, init_start_time = NULL, stopped_at = ${NOW} WHERE id = ?1`,
  insertExecution: `INSERT INTO cave_executions (sandbox_id, argv, started_at) VALUES (?1, ?2, ${NOW}) RETURNING id`,
  executionSetupFailed: `UPDATE cave_executions SET reason = 'setup_failed', exit_code = 125, finished_at = ${NOW} WHERE id = ?1`,
  executionDone: `UPDATE cave_executions SET exit_code = ?2, signal = ?3, reason = ?4, duration_ms = ?5, finished_at = ${NOW} WHERE id = ?1`,
  executions: `SELECT id, sandbox_id, argv, exit_code, signal, reason, duration_ms, started_at, finished_at FROM cave_executions WHERE sandbox_id = ?1 ORDER BY id DESC LIMIT ?2`,
} as const;

/** The engine's readers of these columns' types, so values come back as `cave db query` shows them. */
const asInt = converterFor("int4")!;
const asJson = converterFor("jsonb")!;
const asTimestamp = converterFor("timestamptz")!;
const NAME = /^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,62}$/;

type Row = unknown[];

function toSandbox(r: Row): Sandbox & { initStartTime: string | null } {
  return {
    id: r[0] as string,
    name: (r[1] as string | null) ?? null,
    status: r[2] as SandboxStatus,
    config: decodeConfig(asJson(r[3])),
    initPid: (asInt(r[4]) as number | null) ?? null,
    initStartTime: (r[5] as string | null) ?? null,
    createdAt: asTimestamp(r[6]) as string,
    startedAt: (asTimestamp(r[7]) as string | null) ?? null,
    stoppedAt: (asTimestamp(r[8]) as string | null) ?? null,
    namespace: (r[9] as string | null) ?? null,
  };
}

/** JSON has no Infinity ("none" limits): stored as null, read back as Infinity. */
function encodeConfig(c: SandboxConfig): string {
  return JSON.stringify(c, (_k, v) => (v === Number.POSITIVE_INFINITY ? null : v));
}
function decodeConfig(v: unknown): SandboxConfig {
  const c = (typeof v === "string" ? JSON.parse(v) : v) as SandboxConfig;
  for (const k of ["memoryBytes", "cpus", "pids"] as const) if (c[k] === null) c[k] = Number.POSITIVE_INFINITY;
  return c;
}

function randomId(): string {
  return Array.from(crypto.getRandomValues(new Uint8Array(6)), (b) => b.toString(16).padStart(2, "0")).join("");
}

function rlimitsOf(s: SandboxConfig): Rlimit[] {
  const out: Rlimit[] = [
    { name: "nofile", value: s.rlimits.nofile },
    { name: "core", value: s.rlimits.core },
  ];
  if (s.rlimits.nproc !== undefined) out.push({ name: "nproc", value: s.rlimits.nproc });
  if (s.rlimits.fsize !== undefined) out.push({ name: "fsize", value: s.rlimits.fsize });
  return out;
}

function stateError(s: Sandbox, want: string): CaveError {
  return new CaveError("SANDBOX_STATE", `sandbox ${s.id} is ${s.status}: ${want}`, {
    hint: s.status === "running" ? `stop it first: cave stop ${s.id}` : `start it first: cave start ${s.id}`,
  });
}

export class Sandboxes {
  private constructor(
    /** The data directory's database; `cave serve` keeps its API keys there too. */
    readonly db: Engine,
    readonly dataDir: string,
    /** The most sandboxes running at once (all cave processes on this data directory). */
    readonly maxRunning: number,
    /** 8 hex digits of the data directory's real path (see key()). */
    private readonly scope: string,
  ) {}

  /** Opens the state in `dataDir` (the database at `url`, by default <dataDir>/cave.db). At most
   *  `maxRunning` sandboxes run at once (default: CAVE_MAX_SANDBOXES, else 32). */
  /** `yieldOnBusy`: waits for another connection's write lock on timers (cave serve; see LocalStore). */
  static async open(opts: { dataDir: string; url?: string; maxRunning?: number; yieldOnBusy?: boolean }): Promise<Sandboxes> {
    const max = opts.maxRunning ?? maxFromEnv(process.env.CAVE_MAX_SANDBOXES);
    ensureDataDir(opts.dataDir);
    mkdirSync(join(opts.dataDir, "sandboxes"), { recursive: true, mode: 0o700 });
    const db = await Engine.open(openStore(opts.url ?? join(opts.dataDir, "cave.db"), { yieldOnBusy: opts.yieldOnBusy === true }));
    // The tables are created through the engine, which also records their Postgres column
    // types (jsonb, timestamptz…) in its catalog, so `cave db query` shows typed values; that
    // needs the parser, so it happens only when they are missing (once per data directory).
    const present = await db.store.execute(SQL.tablesPresent, []);
    if (Number(present.rows[0]?.[0] ?? 0) < TABLES.length) for (const sql of SCHEMA) await db.query(sql);
    await addNamespaceColumn(db);
    const scope = new Bun.CryptoHasher("sha256").update(realpathSync(opts.dataDir)).digest("hex").slice(0, 8);
    return new Sandboxes(db, opts.dataDir, max, scope);
  }

  close(): void {
    this.db.close();
  }

  /** One of the lifecycle's own statements (SQL above), straight to the store. */
  private async sql(sql: string, params: readonly StoreValue[] = []): Promise<Row[]> {
    try {
      return (await this.db.store.execute(sql, params)).rows;
    } catch (e) {
      throw toDbError(e);
    }
  }

  /** The sandbox's key outside the database (its cgroup is box-<key>): the data directory's
   *  scope and the id, so that two data directories on one host never judge each other's. */
  private key(id: string): string {
    return `${this.scope}-${id}`;
  }

  private dir(id: string): string {
    return join(this.dataDir, "sandboxes", id);
  }

  /** Serializes start/stop/rm of one sandbox across cave processes (flock on <dir>/lock). */
  private async locked<T>(id: string, f: () => Promise<T>): Promise<T> {
    if (!existsSync(this.dir(id))) throw notFound(id);
    return withLock(join(this.dir(id), "lock"), f);
  }
  /** A new sandbox; `namespace` is the API key's (cave serve's roles), null from the CLI or an admin. */
  async create(config: SandboxConfig, name?: string, namespace: string | null = null): Promise<Sandbox> {
    if (name !== undefined && !NAME.test(name)) {
      throw new CaveError("USAGE", `invalid sandbox name ${JSON.stringify(name)}`, { hint: "use 1–63 letters, digits, '_', '.' or '-', starting with a letter or digit" });
    }
    if (name !== undefined && /^[0-9a-f]{12}$/.test(name)) {
      throw new CaveError("USAGE", `the name ${name} looks like a sandbox id`, { hint: "pick a name that is not 12 hex digits" });
    }
    const id = randomId();
    try {
      await this.sql(SQL.insertSandbox, [id, name ?? null, encodeConfig(config), namespace]);
    } catch (e) {
      if ((e as { sqlstate?: string }).sqlstate === "23505") {
        throw new CaveError("SANDBOX_EXISTS", `a sandbox named ${name} exists`, { hint: "pick another --name, or remove it: cave rm NAME", cause: e });
      }
      throw e;
    }
    try {
      mkdirSync(this.dir(id), { mode: 0o700 });
      createDiskImage(join(this.dir(id), "disk.img"), config.diskBytes);
    } catch (e) {
      rmSync(this.dir(id), { recursive: true, force: true });
      await this.sql(SQL.deleteSandbox, [id]);
      throw e;
    }
    return this.get(id);
  }

  /** A sandbox by id or name, with its status checked against the kernel (running → lost). */
  async get(ref: string): Promise<Sandbox> {
    return (await this.getWithInit(ref)).sandbox;
  }

  /** get(), plus the init to join when it is running (one query: exec's hot path). */
  private async getWithInit(ref: string): Promise<{ sandbox: Sandbox; init: InitHandle | null }> {
    const row = (await this.sql(SQL.sandboxByRef, [ref]))[0];
    if (!row) throw notFound(ref);
    const full = toSandbox(row);
    const sandbox = await this.reconcile(full);
    const init = sandbox.status === "running" && full.initPid !== null && full.initStartTime !== null ? { pid: full.initPid, startTime: full.initStartTime } : null;
    return { sandbox, init };
  }

  async list(): Promise<Sandbox[]> {
    const out: Sandbox[] = [];
    for (const row of await this.sql(SQL.sandboxes)) out.push(await this.reconcile(toSandbox(row)));
    return out;
  }

  /** A `running` sandbox whose init is gone (dead, or its pid reused) becomes `lost`. */
  private async reconcile(s: Sandbox & { initStartTime: string | null }): Promise<Sandbox> {
    const { initStartTime, ...rest } = s;
    if (s.status !== "running") return rest;
    if (s.initPid !== null && initStartTime !== null && isAlive({ pid: s.initPid, startTime: initStartTime })) return rest;
    if (s.initPid !== null) reapIfChild(s.initPid);
    await this.sql(SQL.markLost, [s.id]);
    return { ...rest, status: "lost" };
  }

  private async handle(id: string): Promise<InitHandle | null> {
    const [rawPid, startTime] = ((await this.sql(SQL.initOf, [id]))[0] ?? []) as [unknown, string | null];
    const pid = asInt(rawPid) as number | null | undefined;
    return pid != null && startTime != null ? { pid, startTime } : null;
  }

  /**
   * Marks lost every running sandbox whose init is gone, and kills what runs in `box-*` cgroups
   * that no running sandbox owns: after a crash or restart nothing cave does not know about
   * keeps running. Returns the ids of the cgroups removed.
   */
  async recover(): Promise<string[]> {
    const removed: string[] = [];
    const probe = probeCgroups();
    // Only this data directory's cgroups: another data directory's sandboxes are not ours to judge.
    const mine = `${this.scope}-`;
    for (const key of listBoxCgroups(undefined, probe)) {
      if (!key.startsWith(mine)) continue;
      const id = key.slice(mine.length);
      const kill = async () => {
        const row = (await this.sql(SQL.sandboxById, [id]))[0];
        if (row && (await this.reconcile(toSandbox(row))).status === "running") return;
        boxCgroupManager(key, undefined, probe)?.destroy();
        removed.push(id);
      };
      // A sandbox being started holds its lock until its row says running: wait for it.
      if (existsSync(this.dir(id))) await this.locked(id, kill);
      else await kill();
    }
    return removed;
  }

  /** Starts its init; `opts.phases` is filled with the setup phases' ends (the server's spans). */
  async start(ref: string, opts: { phases?: [string, number][] } = {}): Promise<Sandbox> {
    const s = await this.get(ref);
    // The count and the start happen under one lock for the whole data directory, so two
    // starts cannot both take the last place.
    return withLock(join(this.dataDir, "sandboxes", "start.lock"), () => this.locked(s.id, async () => {
      const cur = await this.get(s.id);
      if (cur.status === "running") throw stateError(cur, "it is running already");
      const running = (await this.list()).filter((x) => x.status === "running").length;
      if (running >= this.maxRunning) {
        throw new CaveError("SANDBOX_LIMIT", `${running} sandboxes are running, the most allowed at once (${this.maxRunning})`, {
          hint: "stop one first, or raise the limit with CAVE_MAX_SANDBOXES (cave serve --max-sandboxes)",
        });
      }
      const c = cur.config;
      const init = await startPersistent(
        {
          argv: [],
          env: c.env,
          workdir: c.workdir,
          hostname: c.hostname,
          rootfs: c.rootfs ?? "/",
          binds: c.binds,
          network: c.network,
          diskBytes: c.diskBytes,
          rlimits: rlimitsOf(c),
        },
        { id: this.key(cur.id), limits: { memoryBytes: c.memoryBytes, cpus: c.cpus, pids: c.pids }, image: join(this.dir(cur.id), "disk.img"), ...(opts.phases ? { phases: opts.phases } : {}) },
      );
      await this.sql(SQL.markRunning, [cur.id, init.pid, init.startTime]);
      return this.get(cur.id);
    }));
  }

  /** Runs a command in a running sandbox and records it; the command's stdio is this process's. */
  async exec(ref: string, req: ExecRequest): Promise<RunResult & { executionId: number }> {
    return this.recorded(ref, req, (init, id, spec, opts) => execPersistent(init, id, spec, opts));
  }

  /** Runs a command with `stdin` fed to it and its stdout and stderr collected (the API's exec). */
  async execCaptured(
    ref: string,
    req: ExecRequest & { stdin?: string; onOutput?: ExecIo["onOutput"] },
  ): Promise<CapturedResult & { executionId: number }> {
    const io: ExecIo = { ...(req.stdin !== undefined ? { stdin: req.stdin } : {}), ...(req.onOutput ? { onOutput: req.onOutput } : {}) };
    return this.recorded(ref, req, (init, id, spec, opts) => execCaptured(init, id, spec, opts, io));
  }

  /** Copies bytes into the sandbox at an absolute path (created or replaced, as root inside). */
  async writeFile(ref: string, path: string, data: Uint8Array): Promise<void> {
    checkPath(path);
    const r = await this.recorded(ref, { argv: ["sh", "-c", 'cat > "$1"', "cave-cp", path] }, (init, id, spec, opts) =>
      execRaw(init, id, spec, opts, { stdin: data }),
    );
    if (r.exitCode !== 0) throw fileError(path, r);
  }

  /** The bytes of a file inside the sandbox (at most `maxBytes`, default 256 MiB). */
  async readFile(ref: string, path: string, maxBytes = 256 << 20): Promise<Uint8Array> {
    checkPath(path);
    // Exit 44 says "not there" without reading the command's stderr.
    const argv = ["sh", "-c", `[ -f "$1" ] || exit ${NO_FILE}; exec cat -- "$1"`, "cave-cp", path];
    const r = await this.recorded(ref, { argv }, (init, id, spec, opts) => execRaw(init, id, spec, opts, { maxOutputBytes: maxBytes }));
    if (r.exitCode !== 0) throw fileError(path, r);
    if (r.truncated) throw new CaveError("SANDBOX_FILE_TOO_LARGE", `${path} is larger than ${maxBytes} bytes`, { hint: "copy it in parts, or compress it inside first" });
    return r.stdout;
  }

  private async recorded<R extends RunResult>(
    ref: string,
    req: ExecRequest,
    run: (init: InitHandle, id: string, spec: ExecSpec, opts: RunOptions) => Promise<R>,
  ): Promise<R & { executionId: number }> {
    const { sandbox: s, init } = await this.getWithInit(ref);
    if (s.status !== "running") throw stateError(s, "cannot exec into it");
    if (!init) throw stateError(s, "it has no init");
    const c = s.config;
    const ins = await this.sql(SQL.insertExecution, [s.id, JSON.stringify(req.argv)]);
    const executionId = Number((ins[0] as Row)[0]);
    let result: R;
    try {
      result = await run(
        init,
        this.key(s.id),
        { argv: req.argv, env: { ...c.env, ...req.env }, workdir: req.workdir ?? c.workdir, network: c.network, rlimits: rlimitsOf(c), ...(req.tty ? { tty: true } : {}) },
        {
          timeoutMs: req.timeoutMs ?? c.timeoutMs,
          seccomp: buildSeccompFilter(c.seccomp),
          keepCaps: c.capAdd.length ? capabilityMask(c.capAdd) : 0n,
          ...(req.phases ? { phases: req.phases } : {}),
        },
      );
    } catch (e) {
      await this.sql(SQL.executionSetupFailed, [executionId]);
      throw e;
    }
    await this.sql(SQL.executionDone, [executionId, result.exitCode, result.signal, result.reason, result.durationMs]);
    return { ...result, executionId };
  }

  async stop(ref: string, graceMs = 10_000): Promise<Sandbox & { how: "stopped" | "killed" | "gone" }> {
    const s = await this.get(ref);
    return this.locked(s.id, async () => {
      const cur = await this.get(s.id);
      if (cur.status === "created" || cur.status === "stopped") throw stateError(cur, "it is not running");
      const init = await this.handle(cur.id);
      // A lost sandbox has no init to signal; stopping it removes what is left (its cgroup).
      const how = init && cur.status === "running" ? await stopPersistent(init, this.key(cur.id), graceMs) : await stopLost(this.key(cur.id));
      await this.sql(SQL.markStopped, [cur.id]);
      return { ...(await this.get(cur.id)), how };
    });
  }

  async rm(ref: string, opts: { force?: boolean } = {}): Promise<void> {
    const s = await this.get(ref);
    if (s.status === "running" || s.status === "lost") {
      if (!opts.force && s.status === "running") throw stateError(s, "cannot remove it");
      await this.stop(s.id, 0);
    }
    await this.locked(s.id, async () => {
      await this.sql(SQL.deleteSandbox, [s.id]);
    });
    rmSync(this.dir(s.id), { recursive: true, force: true });
  }

  /** What a running sandbox uses now (from its cgroup); null when it is not running or the
   *  host has no cgroups. */
  async usage(ref: string): Promise<Usage | null> {
    const s = await this.get(ref);
    if (s.status !== "running") return null;
    try {
      return boxCgroupManager(this.key(s.id), undefined, probeCgroups())?.usage() ?? null;
    } catch {
      return null; // stopped meanwhile: its cgroup is gone
    }
  }

  async executions(ref: string, limit = 100): Promise<Execution[]> {
    const s = await this.get(ref);
    const rows = await this.sql(SQL.executions, [s.id, limit]);
    return rows.map((row) => ({
      id: Number(row[0]),
      sandboxId: row[1] as string,
      argv: asJson(row[2]) as string[],
      exitCode: (asInt(row[3]) as number | null) ?? null,
      signal: (row[4] as string | null) ?? null,
      reason: (row[5] as string | null) ?? null,
      durationMs: row[6] == null ? null : Number(row[6]),
      startedAt: asTimestamp(row[7]) as string,
      finishedAt: (asTimestamp(row[8]) as string | null) ?? null,
    }));
  }
}

/**
 * Adds cave_sandboxes.namespace to the table of earlier versions, once per data directory:
 * through the engine (which records its Postgres type for `cave db query`), only when
 * pragma_table_info lacks it, so an up-to-date data directory costs one cheap query and
 * never loads the SQL parser. A second process migrating at the same moment may lose the
 * race; the column being there afterwards is all that counts.
 */
async function addNamespaceColumn(db: Engine): Promise<void> {
  const has = async () => (await db.store.execute(SQL.sandboxColumns, [])).rows.some((r) => r[0] === "namespace");
  if (await has()) return;
  try {
    await db.query("ALTER TABLE cave_sandboxes ADD COLUMN IF NOT EXISTS namespace text");
  } catch (e) {
    if (!(await has())) throw e;
  }
}

async function withLock<T>(path: string, f: () => Promise<T>): Promise<T> {
  const fd = openSync(path, "a", 0o600);
  try {
    libc.lockExclusive(fd);
    return await f();
  } finally {
    closeSync(fd);
  }
}

function maxFromEnv(v: string | undefined): number {
  if (v === undefined || v === "") return 32;
  const n = Number(v);
  if (!Number.isSafeInteger(n) || n < 1) {
    throw new CaveError("CONFIG_INVALID", `CAVE_MAX_SANDBOXES=${v} is not a whole number of 1 or more`, { hint: "unset it (32) or give e.g. 100" });
  }
  return n;
}

async function stopLost(id: string): Promise<"gone"> {
  boxCgroupManager(id, undefined, probeCgroups())?.destroy();
  return "gone";
}

const NO_FILE = 44;

function checkPath(path: string): void {
  if (!path.startsWith("/") || path.includes("\0")) {
    throw new CaveError("USAGE", `the path inside the sandbox must be absolute: ${JSON.stringify(path)}`, { hint: "e.g. ID:/root/file" });
  }
}

function fileError(path: string, r: RawResult): CaveError {
  const why = r.stderr.trim().split("\n").pop() ?? "";
  if (r.reason !== "exit") return new CaveError("SANDBOX_FILE", `copying ${path} failed: ${r.message ?? r.reason}`, { hint: "is the sandbox still running?" });
  if (r.exitCode === NO_FILE) return new CaveError("SANDBOX_FILE_NOT_FOUND", `no file ${path} in the sandbox`, { hint: "check the path; only regular files are copied" });
  return new CaveError("SANDBOX_FILE", `copying ${path} failed: ${why || `exit ${r.exitCode}`}`, { hint: "check the path and its permissions inside" });
}

function notFound(ref: string): CaveError {
  return new CaveError("SANDBOX_NOT_FOUND", `no sandbox ${JSON.stringify(ref)}`, { hint: "list them with cave ls" });
}
