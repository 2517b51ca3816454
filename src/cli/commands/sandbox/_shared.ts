// What the persistent-sandbox verbs (create, start, exec, stop, rm, ls, inspect, cp) share: the
// flags that find the sandboxes, and opening them. No daemon: by default each verb works on
// the data directory directly, so any cave process sees every sandbox; with --url or CAVE_URL
// the same verbs drive a remote `cave serve`.
import type { Sandbox } from "../../../server/sandboxes.ts";
import type { SandboxClient } from "./_client.ts";

export const boxArgs = {
  "data-dir": {
    type: "string",
    description: "cave's data directory (default: CAVE_DATA_DIR, cave.yaml db.data_dir, then /var/lib/cave for root).",
  },
  config: { type: "string", description: "Config file (default ./cave.yaml if present)." },
  url: { type: "string", description: "A remote cave serve to use instead of the data directory (default: CAVE_URL)." },
  key: { type: "string", description: "The API key for --url (default: CAVE_API_KEY)." },
  debug: { type: "boolean", description: "Show causes and stacks of errors." },
} as const;

export interface BoxFlags {
  "data-dir"?: string | undefined;
  config?: string | undefined;
  url?: string | undefined;
  key?: string | undefined;
}

/** The sandboxes to work on: a remote server's (--url, CAVE_URL) or the data directory's. */
export async function openSandboxes(flags: BoxFlags): Promise<SandboxClient> {
  const url = flags.url ?? process.env.CAVE_URL;
  const { localClient, remoteClient } = await import("./_client.ts");
  if (url) return remoteClient(url, flags.key ?? process.env.CAVE_API_KEY);
  return localClient(await openLocal(flags));
}

async function openLocal(flags: BoxFlags) {
  const { findProjectConfig, loadConfigFile } = await import("../../../core/config.ts");
  const { resolveDbLocation } = await import("../../../db/paths.ts");
  const { Sandboxes } = await import("../../../server/sandboxes.ts");
  const configPath = flags.config || findProjectConfig(process.cwd());
  const config = configPath ? loadConfigFile(configPath).db : undefined;
  // The sandboxes' state lives in the data directory's own database, whatever --url says.
  const { dataDir } = resolveDbLocation({ flags: { dataDir: flags["data-dir"] }, config: config?.data_dir ? { data_dir: config.data_dir } : undefined });
  return Sandboxes.open({ dataDir });
}

/** One sandbox for people: `id  name  status  …` on one line. */
export function line(s: Sandbox): string {
  return [s.id, s.name ?? "-", s.status, s.startedAt ?? "-", s.createdAt].join("\t");
}

/** The sandbox as JSON, limits that are lifted ("none") as null. */
export function toJson(s: Sandbox): string {
  return JSON.stringify(s, (_k, v) => (v === Number.POSITIVE_INFINITY ? null : v));
}
