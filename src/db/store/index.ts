// openStore(url): picks the transport from the URL. Each transport's driver loads only when
// that transport is used, so an embedded database never loads @libsql/client.
import { resolve } from "node:path";
import { CaveError } from "../../core/errors.ts";
import type { Store } from "./types.ts";
import type { LocalStore } from "./local.ts";
import type { RemoteStore } from "./remote.ts";

export type { Store, StoreResult, StoreValue } from "./types.ts";
export { StoreError, isStoreError, toStoreError } from "./errors.ts";

export type StoreTarget = { kind: "local"; path: string } | { kind: "remote"; url: string; authToken?: string };

const REMOTE = /^(?:libsql|https?|wss?):\/\//i;

/**
 * What a database URL names:
 * - `:memory:`: a private in-memory database;
 * - `file:/abs/path.db`, `file:///abs/path.db`, `file:rel.db`, or a plain path: a libSQL file
 *   (relative paths resolve against `cwd`);
 * - `libsql://`, `http(s)://`, `ws(s)://`: a libSQL server. A token goes in `?authToken=…`
 *   or in CAVE_DB_AUTH_TOKEN; it is removed from the URL that cave shows.
 */
export function parseStoreUrl(url: string, cwd: string = process.cwd(), env = process.env): StoreTarget {
  const text = url.trim();
  if (text === "") throw invalid(url, "the database URL is empty");
  if (text === ":memory:" || text === "file::memory:") return { kind: "local", path: ":memory:" };
  if (REMOTE.test(text)) {
    let u: URL;
    try {
      u = new URL(text);
    } catch (e) {
      throw invalid(url, "it is not a valid URL", e);
    }
    const fromUrl = u.searchParams.get("authToken") ?? undefined;
    u.searchParams.delete("authToken");
    if (u.username || u.password)
      throw invalid(url, "put credentials in ?authToken= or CAVE_DB_AUTH_TOKEN, not user:password@");
    const authToken = fromUrl ?? env.CAVE_DB_AUTH_TOKEN;
    return { kind: "remote", url: u.toString().replace(/\/$/, ""), ...(authToken ? { authToken } : {}) };
  }
  if (/^file:/i.test(text)) {
    let rest = text.slice(5);
    if (rest.includes("?")) throw invalid(url, "file: URLs take no query parameters here");
    if (rest.startsWith("//")) {
      // file:///abs → /abs; file://localhost/abs → /abs; anything else names another host.
      const slash = rest.indexOf("/", 2);
      const host = rest.slice(2, slash < 0 ? undefined : slash);
      if (host !== "" && host !== "localhost") throw invalid(url, `file URLs name a local path, not host ${host}`);
      rest = slash < 0 ? "" : rest.slice(slash);
    }
    const path = decodeURIComponent(rest);
    if (path === "") throw invalid(url, "the file URL has no path");
    return { kind: "local", path: resolve(cwd, path) };
  }
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(text)) {
    throw invalid(
      url,
      `unknown scheme ${text.slice(0, text.indexOf(":"))}: use a path, file:, libsql://, http(s):// or ws(s)://`,
    );
  }
  return { kind: "local", path: resolve(cwd, text) };
}

/** Opens the database `url` names (see parseStoreUrl). */
export function openStore(url: string, opts: { cwd?: string; yieldOnBusy?: boolean } = {}): Store {
  const target = parseStoreUrl(url, opts.cwd);
  if (target.kind === "local") {
    const { LocalStore: Local } = require("./local.ts") as { LocalStore: typeof LocalStore };
    return new Local(target.path, { yieldOnBusy: opts.yieldOnBusy === true });
  }
  const { RemoteStore: Remote } = require("./remote.ts") as { RemoteStore: typeof RemoteStore };
  return new Remote(target.url, target.authToken ? { authToken: target.authToken } : {});
}

function invalid(url: string, why: string, cause?: unknown): CaveError {
  return new CaveError("DB_URL_INVALID", `invalid database URL ${JSON.stringify(url)}: ${why}`, {
    hint: "use a path, file:/abs/path.db, :memory:, or libsql://host (see docs/operations.md)",
    ...(cause ? { cause } : {}),
  });
}
