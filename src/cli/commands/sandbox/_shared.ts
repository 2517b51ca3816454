// What the persistent-sandbox verbs (create, start, exec, stop, rm, ls, inspect) share: the
// flags that find the data directory, and opening the lifecycle module over it. No daemon:
// each verb works on the data directory directly, so any cave process sees every sandbox.
import type { Sandbox, Sandboxes } from "../../../server/sandboxes.ts";

export const boxArgs = {
  "data-dir": {
    type: "string",
    description: "cave's data directory (default: CAVE_DATA_DIR, cave.yaml db.data_dir, then /var/lib/cave for root).",
  },
  config: { type: "string", description: "Config file (default ./cave.yaml if present)." },
  debug: { type: "boolean", description: "Show causes and stacks of errors." },
} as const;

export interface BoxFlags {
  "data-dir"?: string | undefined;
  config?: string | undefined;
}

export async function openSandboxes(flags: BoxFlags): Promise<Sandboxes> {
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
