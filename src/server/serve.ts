// `cave serve`: the lifecycle module behind Bun.serve. At start it marks sandboxes whose init
// is gone as lost and kills what runs in sandbox cgroups nobody owns; running sandboxes are
// re-attached simply by being found (their init is identified by pid and start time).
import { writeStderr } from "../core/log.ts";
import { loadKeys } from "./auth.ts";
import { createApp } from "./http.ts";
import { Sandboxes } from "./sandboxes.ts";

export interface ServeOptions {
  host: string;
  port: number;
  dataDir: string;
  /** The most sandboxes running at once (default: CAVE_MAX_SANDBOXES, else 32). */
  maxSandboxes?: number;
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
  const server = Bun.serve({ hostname: opts.host, port: opts.port, fetch: createApp({ boxes, keys }) });
  return {
    url: `http://${server.hostname}:${server.port}`,
    async stop() {
      await server.stop();
      boxes.close();
    },
  };
}
