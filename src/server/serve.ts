// `cave serve`: the lifecycle module behind Bun.serve. At start it marks sandboxes whose init
// is gone as lost and kills what runs in sandbox cgroups nobody owns; running sandboxes are
// re-attached simply by being found (their init is identified by pid and start time).
// Next to the sandbox API it mounts bkg-db's auth service (/auth/v1) and the data API
// (/rest/v1, /query, /schema, /policy), each on its own connection to the same database.
// The governance parts are opened here and handed to the HTTP layer: API keys with roles
// and rate limits (src/governance/), the signed audit log (src/audit/, batched through
// ./audit.ts), key-event webhooks, and telemetry (spans over OTLP, /metrics).
import { createHash } from "node:crypto";
import { join } from "node:path";
import pkg from "../../package.json" with { type: "json" };
import type { AuthConfig } from "../../schema/config.ts";
import { parseLongDuration } from "../../schema/governance.ts";
import { AuditLog } from "../audit/index.ts";
import { AuthService, createAuthHandler } from "../auth/service.ts";
import type { CaveConfig } from "../core/config.ts";
import { CaveError } from "../core/errors.ts";
import { writeStderr } from "../core/log.ts";
import { parseDuration } from "../core/units.ts";
import { Engine } from "../db/engine.ts";
import { DATABASE_FILE } from "../db/paths.ts";
import { openStore } from "../db/store/index.ts";
import { LocalAsyncStore } from "../db/store/local-async.ts";
import { notifyKeyEvent } from "../governance/events.ts";
import { KeyStore } from "../governance/keys.ts";
import { RateLimiter } from "../governance/ratelimit.ts";
import { Webhooks } from "../governance/webhooks.ts";
import { Telemetry } from "../telemetry/index.ts";
import { AuditQueue } from "./audit.ts";
import { createDataApi } from "./data/index.ts";
import { createApp, requestIdOf } from "./http.ts";
import { Sandboxes } from "./sandboxes.ts";

export interface ServeOptions {
  host: string;
  port: number;
  dataDir: string;
  /** The most sandboxes running at once (default: CAVE_MAX_SANDBOXES, else 32). */
  maxSandboxes?: number;
  /** cave.yaml's `auth` section (also taken from `config` when that is given). */
  auth?: AuthConfig;
  /** The whole cave.yaml: keys, limits, webhooks and telemetry come from it. */
  config?: CaveConfig;
  /** Where `config` was read from (named in the audit log's config line). */
  configPath?: string;
  env?: Record<string, string | undefined>;
}

export interface Running {
  url: string;
  stop(): Promise<void>;
}

/** POST /query's statement timeout unless cave.yaml's db.statement_timeout says otherwise. */
export const DEFAULT_STATEMENT_TIMEOUT_MS = 8_000;

/** How often webhooks are told of keys about to expire (and once at start). */
const EXPIRING_EVERY_MS = 3_600_000;

export async function serve(opts: ServeOptions): Promise<Running> {
  const config = opts.config ?? {};
  const env = opts.env ?? process.env;
  const warn = (m: string) => writeStderr(`cave: ${m}\n`);
  // Every connection of the server waits for a write lock on timers, never on the event loop
  // (LocalStore's yieldOnBusy): /query's transactions run on libsql's thread pool and need the
  // event loop to finish.
  const boxes = await Sandboxes.open({
    dataDir: opts.dataDir,
    yieldOnBusy: true,
    ...(opts.maxSandboxes ? { maxRunning: opts.maxSandboxes } : {}),
  });
  await boxes.recover();
  const auditLog = AuditLog.open({ dataDir: opts.dataDir });
  const audit = new AuditQueue(auditLog, warn);
  const webhooks = await Webhooks.open({ dataDir: opts.dataDir, config: config.webhooks, warn });
  const grace = config.keys?.rotation_grace;
  const graceMs = grace === undefined ? undefined : parseLongDuration(grace, true);
  if (typeof graceMs === "string") throw new CaveError("CONFIG_INVALID", `keys.rotation_grace: ${graceMs}`);
  const keys = await KeyStore.open(boxes.db, {
    env,
    ...(graceMs === undefined ? {} : { rotationGraceMs: graceMs }),
    onEvent: (e) => notifyKeyEvent(webhooks, e),
  });
  const created = await keys.ensureAdmin();
  if (created) {
    writeStderr(`cave: admin API key (shown once; only its hash is kept): ${created}\n`);
  }
  const limiter = new RateLimiter({ limits: config.limits?.rate });
  const telemetry = Telemetry.open({
    serviceVersion: pkg.version,
    ...(config.telemetry ? { config: config.telemetry } : {}),
    env,
    warn,
    sandboxStates: async () => {
      const counts: Record<string, number> = { created: 0, running: 0, stopped: 0, lost: 0 };
      for (const s of await boxes.list()) counts[s.status] = (counts[s.status] ?? 0) + 1;
      return counts;
    },
  });
  const authConfig = opts.auth ?? config.auth;
  const auth = await AuthService.open({
    dataDir: opts.dataDir,
    yieldOnBusy: true,
    ...(authConfig ? { config: authConfig } : {}),
  });
  // The data API's own connection: its transactions never mix with the sandboxes' bookkeeping.
  const dbPath = join(opts.dataDir, DATABASE_FILE);
  const engine = await Engine.open(openStore(dbPath, { yieldOnBusy: true }));
  // POST /query's SQL is anyone's (any role db.query_roles admits): it runs on a connection of
  // libsql's promise API, off the event loop, and is cancelled at db.statement_timeout (57014).
  const statementTimeoutMs =
    config.db?.statement_timeout === undefined
      ? DEFAULT_STATEMENT_TIMEOUT_MS
      : parseDuration(config.db.statement_timeout, "CONFIG_INVALID");
  const queryEngine = await Engine.open(await LocalAsyncStore.open(dbPath, { statementTimeoutMs }));
  const data = createDataApi({
    engine,
    queryEngine,
    auth,
    audit: (req, e) => audit.record({ ...e, requestId: requestIdOf(req) }),
    ...(config.db?.query_roles ? { queryRoles: config.db.query_roles } : {}),
    ...(config.db?.max_rows !== undefined ? { maxRows: config.db.max_rows === "none" ? null : config.db.max_rows } : {}),
  });
  // The client's address for the auth service's sign-in limits: the socket's peer, never a
  // header a client could write (behind a proxy, every client shares the proxy's limit).
  const clients = new WeakMap<Request, string>();
  const authHandler = createAuthHandler(auth, { clientAddress: (req) => clients.get(req) ?? null });
  const app = createApp({ boxes, keys, limiter, audit, telemetry, mounts: [authHandler, data.handle] });
  const server = Bun.serve({
    hostname: opts.host,
    port: opts.port,
    fetch: (req, srv) => {
      const peer = srv.requestIP(req)?.address;
      if (peer) clients.set(req, peer);
      return app(req);
    },
  });
  const url = `http://${server.hostname}:${server.port}`;

  // The configuration this server runs with, as a digest an auditor can compare with the file.
  const digest = createHash("sha256").update(JSON.stringify(config)).digest("hex");
  audit.record({
    actor: `local:${env.USER ?? env.LOGNAME ?? (process.getuid?.() === 0 ? "root" : String(process.getuid?.() ?? "?"))}`,
    action: "config.change",
    target: opts.configPath ?? "",
    outcome: "success",
    requestId: null,
    details: { event: "serve.start", config_sha256: digest, version: pkg.version, url, pid: process.pid },
  });
  await audit.flush();

  const expiring = async () => {
    try {
      webhooks.notifyExpiring(await keys.list());
    } catch (e) {
      warn(`webhooks: could not list keys for key.expiring: ${(e as Error).message}`);
    }
  };
  void expiring();
  const timer = setInterval(() => void expiring(), EXPIRING_EVERY_MS);
  timer.unref();

  return {
    url,
    async stop() {
      clearInterval(timer);
      await server.stop();
      await audit.close();
      await Promise.all([webhooks.close(), telemetry.shutdown()]);
      engine.close();
      queryEngine.close();
      auth.close();
      boxes.close();
    },
  };
}
