// What the `cave keys` verbs share: the flags that find the data directory, opening its keys
// (src/governance/keys.ts) with cave.yaml's `keys` settings, and printing a key for people.
// The keys live in the data directory's database, like the sandboxes; no server is involved.
// The verbs that change a key (issue, rotate, revoke) also write its audit line (actor
// local:<user>) and tell cave.yaml's webhooks, waiting a few seconds for the deliveries; what
// is not delivered by then stays pending in the delivery log and the next cave serve resumes it.
import type { KeyInfo } from "../../../../schema/governance.ts";
import { type DataDirFlags, dataDirArgs, locateDataDir } from "../../data-dir.ts";
import type { KeyStore } from "../../../governance/keys.ts";

export const keyArgs = {
  ...dataDirArgs,
  json: { type: "boolean", description: "Print JSON for machines." },
} as const;

export type KeyFlags = DataDirFlags;

/** How long a verb waits for its webhook deliveries before leaving them to cave serve. */
const WEBHOOK_WAIT_MS = 5_000;

/** The data directory's keys; call close() when done. With `events`, key operations are audited and told to the webhooks. */
export async function openKeys(
  flags: KeyFlags,
  opts: { events?: boolean } = {},
): Promise<{ keys: KeyStore; close(): Promise<void>; failures: () => string[] }> {
  const { join } = await import("node:path");
  const { ensureDataDir } = await import("../../../db/paths.ts");
  const { Engine } = await import("../../../db/engine.ts");
  const { openStore } = await import("../../../db/store/index.ts");
  const { KeyStore } = await import("../../../governance/keys.ts");
  const { parseLongDuration } = await import("../../../../schema/governance.ts");
  // The keys live in the data directory's own database, next to the sandboxes cave serve runs.
  const { config, dataDir } = await locateDataDir(flags);
  ensureDataDir(dataDir);
  const grace = config?.keys?.rotation_grace;
  const graceMs = grace === undefined ? undefined : (parseLongDuration(grace, true) as number);
  const failures: string[] = [];
  let onEvent: ((e: import("../../../governance/keys.ts").KeyEvent) => void) | undefined;
  let webhooks: import("../../../governance/webhooks.ts").Webhooks | null = null;
  if (opts.events) {
    const { AuditLog } = await import("../../../audit/index.ts");
    const { Webhooks } = await import("../../../governance/webhooks.ts");
    const { keyEventAudit, notifyKeyEvent } = await import("../../../governance/events.ts");
    const { userInfo } = await import("node:os");
    // Opened before the key changes: an audit log that cannot be written stops the verb first.
    const audit = AuditLog.open({ dataDir });
    const hooks = await Webhooks.open({
      dataDir,
      config: config?.webhooks,
      warn: (m) => process.stderr.write(`cave: ${m}\n`),
    });
    webhooks = hooks;
    const actor = `local:${userInfo().username}`;
    onEvent = (e) => {
      try {
        audit.append(keyEventAudit(e, actor));
      } catch (err) {
        failures.push(`the audit line of ${e.type} ${e.key.id} could not be written: ${(err as Error).message}`);
      }
      notifyKeyEvent(hooks, e);
    };
  }
  const db = await Engine.open(openStore(join(dataDir, "cave.db")));
  const close = async () => {
    db.close();
    if (webhooks) {
      const w = webhooks;
      let timer: ReturnType<typeof setTimeout> | undefined;
      await Promise.race([w.idle(), new Promise<void>((r) => (timer = setTimeout(r, WEBHOOK_WAIT_MS)))]);
      clearTimeout(timer);
      if (w.pendingCount > 0)
        process.stderr.write(
          `cave: ${w.pendingCount} webhook deliveries are still pending; cave serve resumes them (${w.logPath})\n`,
        );
      await w.close();
    }
  };
  try {
    const keys = await KeyStore.open(db, {
      ...(graceMs === undefined ? {} : { rotationGraceMs: graceMs }),
      ...(onEvent ? { onEvent } : {}),
    });
    return { keys, close, failures: () => failures };
  } catch (e) {
    await close();
    throw e;
  }
}

/**
 * Runs `f` on the data directory's keys and closes them. A key that is not there or not in a
 * state for the verb (KEY_NOT_FOUND, KEY_STATE) is the user's input to fix: exit 2, like USAGE.
 */
export async function withKeys<T>(
  flags: KeyFlags,
  f: (keys: KeyStore) => Promise<T>,
  opts: { events?: boolean } = {},
): Promise<T> {
  const { keys, close, failures } = await openKeys(flags, opts);
  try {
    const r = await f(keys);
    const failed = failures();
    if (failed.length > 0) {
      const { CaveError } = await import("../../../core/errors.ts");
      throw new CaveError("AUDIT_WRITE_FAILED", `the key operation is done, but ${failed.join("; ")}`, {
        hint: "fix the data directory's audit/ (disk full? permissions?) and record the operation by hand",
      });
    }
    return r;
  } catch (e) {
    const { CaveError, isCaveError } = await import("../../../core/errors.ts");
    if (isCaveError(e) && (e.code === "KEY_NOT_FOUND" || e.code === "KEY_STATE")) {
      throw new CaveError("USAGE", e.message, { ...(e.hint ? { hint: e.hint } : {}), cause: e });
    }
    throw e;
  } finally {
    await close();
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
