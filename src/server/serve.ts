// `cave serve`: the lifecycle module behind Bun.serve. At start it marks sandboxes whose init
// is gone as lost and kills what runs in sandbox cgroups nobody owns; running sandboxes are
// re-attached simply by being found (their init is identified by pid and start time).
// Next to the sandbox API it mounts bkg-db's auth service (/auth/v1) and the data API
// (/rest/v1, /query, /schema, /policy), each on its own connection to the same database.
import { join } from "node:path";
import type { AuthConfig } from "../../schema/config.ts";
import { AuthService, createAuthHandler } from "../auth/service.ts";
import { writeStderr } from "../core/log.ts";
import { Engine } from "../db/engine.ts";
import { DATABASE_FILE } from "../db/paths.ts";
import { openStore } from "../db/store/index.ts";
import { loadKeys } from "./auth.ts";
import { createDataApi } from "./data/index.ts";
import { createApp } from "./http.ts";
import { Sandboxes } from "./sandboxes.ts";

export interface ServeOptions {
  host: string;
  port: number;
  dataDir: string;
  /** The most sandboxes running at once (default: CAVE_MAX_SANDBOXES, else 32). */
  maxSandboxes?: number;
  /** cave.yaml's `auth` section. */
  auth?: AuthConfig;
}

export interface Running {
  url: string;
  stop(): Promise<void>;
}

export async function serve(opts: ServeOptions): Promise<Running> {
  const boxes = await Sandboxes.open({ dataDir: opts.dataDir, ...(opts.maxSandboxes ? { maxRunning: opts.maxSandboxes } : {}) });
  await boxes.recover();
  const keys = await loadKeys(boxes.db);
  if (keys.created) {
    writeStderr(`cave: admin API key (shown once; only its hash is kept): ${keys.created}\n`);
  }
  const auth = await AuthService.open({ dataDir: opts.dataDir, ...(opts.auth ? { config: opts.auth } : {}) });
  // The data API's own connection: its transactions never mix with the sandboxes' bookkeeping.
  const engine = await Engine.open(openStore(join(opts.dataDir, DATABASE_FILE)));
  const data = createDataApi({ engine, auth });
  const app = createApp({ boxes, keys, mounts: [createAuthHandler(auth), data.handle] });
  const server = Bun.serve({ hostname: opts.host, port: opts.port, fetch: app });
  return {
    url: `http://${server.hostname}:${server.port}`,
    async stop() {
      await server.stop();
      engine.close();
      auth.close();
      boxes.close();
    },
  };
}
