// What the `cave keys` verbs share: the flags that find the data directory, opening its keys
// (src/governance/keys.ts) with cave.yaml's `keys` settings, and printing a key for people.
// The keys live in the data directory's database, like the sandboxes; no server is involved.
import type { KeyInfo } from "../../../../schema/governance.ts";
import type { KeyStore } from "../../../governance/keys.ts";

export const keyArgs = {
  "data-dir": {
    type: "string",
    description: "cave's data directory (default: CAVE_DATA_DIR, cave.yaml db.data_dir, then /var/lib/cave for root).",
  },
  config: { type: "string", description: "Config file (default ./cave.yaml if present)." },
  json: { type: "boolean", description: "Print JSON for machines." },
  debug: { type: "boolean", description: "Show causes and stacks of errors." },
} as const;

export interface KeyFlags {
  "data-dir"?: string | undefined;
  config?: string | undefined;
}

/** The data directory's keys; call close() when done. */
export async function openKeys(flags: KeyFlags): Promise<{ keys: KeyStore; close(): void }> {
  const { join } = await import("node:path");
  const { findProjectConfig, loadConfigFile } = await import("../../../core/config.ts");
  const { resolveDbLocation, ensureDataDir } = await import("../../../db/paths.ts");
  const { Engine } = await import("../../../db/engine.ts");
  const { openStore } = await import("../../../db/store/index.ts");
  const { KeyStore } = await import("../../../governance/keys.ts");
  const { parseLongDuration } = await import("../../../../schema/governance.ts");
  const configPath = flags.config || findProjectConfig(process.cwd());
  const config = configPath ? loadConfigFile(configPath) : undefined;
  const dataDirConfig = config?.db?.data_dir;
  // The keys live in the data directory's own database, next to the sandboxes cave serve runs.
  const { dataDir } = resolveDbLocation({
    flags: { dataDir: flags["data-dir"] },
    config: dataDirConfig ? { data_dir: dataDirConfig } : undefined,
  });
  ensureDataDir(dataDir);
  const grace = config?.keys?.rotation_grace;
  const graceMs = grace === undefined ? undefined : (parseLongDuration(grace, true) as number);
  const db = await Engine.open(openStore(join(dataDir, "cave.db")));
  try {
    const keys = await KeyStore.open(db, graceMs === undefined ? {} : { rotationGraceMs: graceMs });
    return { keys, close: () => db.close() };
  } catch (e) {
    db.close();
    throw e;
  }
}

/**
 * Runs `f` on the data directory's keys and closes them. A key that is not there or not in a
 * state for the verb (KEY_NOT_FOUND, KEY_STATE) is the user's input to fix: exit 2, like USAGE.
 */
export async function withKeys<T>(flags: KeyFlags, f: (keys: KeyStore) => Promise<T>): Promise<T> {
  const { keys, close } = await openKeys(flags);
  try {
    return await f(keys);
  } catch (e) {
    const { CaveError, isCaveError } = await import("../../../core/errors.ts");
    if (isCaveError(e) && (e.code === "KEY_NOT_FOUND" || e.code === "KEY_STATE")) {
      throw new CaveError("USAGE", e.message, { ...(e.hint ? { hint: e.hint } : {}), cause: e });
    }
    throw e;
  } finally {
    close();
  }
}

/** The scope of a key in a few words. */
export function scopeText(k: KeyInfo): string {
  if (k.role === "session") return `sandboxes ${k.sandboxes.join(",")}`;
  if (k.namespace !== null) return `namespace ${k.namespace}`;
  return k.role === "admin" ? "everything" : "-";
}

/** One key for people: `id  name  role  scope  status  created  expires  last used`. */
export function line(k: KeyInfo): string {
  const expires = k.expiresAt ?? "-";
  return [k.id, k.name ?? "-", k.role, scopeText(k), k.status, k.createdAt, expires, k.lastUsedAt ?? "-"].join("\t");
}

export const HEADER = ["ID", "NAME", "ROLE", "SCOPE", "STATUS", "CREATED", "EXPIRES", "LAST USED"].join("\t");
