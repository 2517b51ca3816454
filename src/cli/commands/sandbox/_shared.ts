// What the persistent-sandbox verbs (create, start, exec, stop, rm, ls, inspect, cp) share: the
// flags that find the sandboxes, and opening them. No daemon: by default each verb works on
// the data directory directly, so any cave process sees every sandbox; with --url or CAVE_URL
// the same verbs drive a remote `cave serve`.
import type { Sandbox } from "../../../server/sandboxes.ts";
import { type DataDirFlags, dataDirArgs, locateDataDir } from "../../data-dir.ts";
import type { SandboxClient } from "./_client.ts";

export const boxArgs = {
  ...dataDirArgs,
  url: { type: "string", description: "A remote cave serve to use instead of the data directory (default: CAVE_URL)." },
  key: { type: "string", description: "The API key for --url (default: CAVE_API_KEY)." },
} as const;

export interface BoxFlags extends DataDirFlags {
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
  const { Sandboxes } = await import("../../../server/sandboxes.ts");
  // The sandboxes' state lives in the data directory's own database, whatever --url says.
  return Sandboxes.open({ dataDir: (await locateDataDir(flags)).dataDir });
}

/** One sandbox for people: `id  name  status  …` on one line. */
export function line(s: Sandbox): string {
  return [s.id, s.name ?? "-", s.status, s.startedAt ?? "-", s.createdAt].join("\t");
}

/** The sandbox as JSON, limits that are lifted ("none") as null. */
export function toJson(s: Sandbox): string {
  return JSON.stringify(s, (_k, v) => (v === Number.POSITIVE_INFINITY ? null : v));
}
