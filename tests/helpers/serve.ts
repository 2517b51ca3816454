// A real `cave serve --port 0` on a data directory, for the e2e tests of the data API: the
// server from source (or $CAVE_BIN), its URL read from its "listening on" line, and the anon
// and service-role keys from `cave db keys --json`, as a client developer would get them.
import { resolve } from "node:path";

const ROOT = resolve(import.meta.dir, "../..");
/** `cave` as the tests run it: the source through Bun, or the binary named by CAVE_BIN. */
export const CAVE_CMD = process.env.CAVE_BIN
  ? [process.env.CAVE_BIN]
  : [resolve(ROOT, "node_modules/.bin/bun"), resolve(ROOT, "src/cli/main.ts")];

const ENV = { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: "/tmp" };

export interface Served {
  url: string;
  anonKey: string;
  serviceKey: string;
  /** SIGTERM, then waits for the process to end. */
  stop(): Promise<void>;
}

export async function startServe(dataDir: string, env: Record<string, string> = {}): Promise<Served> {
  const proc = Bun.spawn([...CAVE_CMD, "serve", "--port", "0", "--data-dir", dataDir], {
    cwd: dataDir,
    env: { ...ENV, ...env },
    stdout: "ignore",
    stderr: "pipe",
  });
  let err = "";
  const reader = (proc.stderr as ReadableStream<Uint8Array>).getReader();
  const decoder = new TextDecoder();
  while (!/listening on (\S+)/.test(err)) {
    const { done, value } = await reader.read();
    if (done) throw new Error(`cave serve exited: ${err}`);
    err += decoder.decode(value);
  }
  const url = (/listening on (\S+)/.exec(err) as RegExpExecArray)[1] as string;
  // Keep draining stderr so the server never blocks on a full pipe.
  void (async () => {
    for (;;) if ((await reader.read()).done) break;
  })();
  const keys = Bun.spawnSync([...CAVE_CMD, "db", "keys", "--json", "--data-dir", dataDir], { env: { ...ENV, ...env } });
  if (keys.exitCode !== 0) throw new Error(`cave db keys failed: ${keys.stderr.toString()}`);
  const k = JSON.parse(keys.stdout.toString()) as { anon_key: string; service_role_key: string };
  return {
    url,
    anonKey: k.anon_key,
    serviceKey: k.service_role_key,
    async stop() {
      proc.kill("SIGTERM");
      await proc.exited;
    },
  };
}
