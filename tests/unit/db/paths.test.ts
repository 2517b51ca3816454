// Where the database lives: flag > environment > cave.yaml > the per-user default.
import { describe, expect, test } from "bun:test";
import { defaultDataDir, resolveDbLocation } from "../../../src/db/paths.ts";
import { parseStoreUrl } from "../../../src/db/store/index.ts";
import { CaveError } from "../../../src/core/errors.ts";

describe("the data directory", () => {
  test("is /var/lib/cave for root", () => {
    expect(defaultDataDir(0, { HOME: "/root", XDG_DATA_HOME: "/x" })).toBe("/var/lib/cave");
  });

  test("is under XDG_DATA_HOME for other users when it is absolute", () => {
    expect(defaultDataDir(1000, { HOME: "/home/u", XDG_DATA_HOME: "/data" })).toBe("/data/cave");
  });

  test("is ~/.local/share/cave when XDG_DATA_HOME is unset or relative", () => {
    expect(defaultDataDir(1000, { HOME: "/home/u" })).toBe("/home/u/.local/share/cave");
    expect(defaultDataDir(1000, { HOME: "/home/u", XDG_DATA_HOME: "rel" })).toBe("/home/u/.local/share/cave");
  });

  test("comes from the flag before CAVE_DATA_DIR before cave.yaml before the default", () => {
    const env = { CAVE_DATA_DIR: "/env", HOME: "/home/u" };
    const config = { data_dir: "/cfg" };
    const at = (input: Parameters<typeof resolveDbLocation>[0]) => {
      const l = resolveDbLocation({ uid: 1000, cwd: "/cwd", ...input });
      return [l.dataDir, l.dataDirSource, l.url, l.urlSource];
    };
    expect(at({ flags: { dataDir: "d" }, env, config })).toEqual(["/cwd/d", "flag", "/cwd/d/cave.db", "default"]);
    expect(at({ env, config })).toEqual(["/env", "env", "/env/cave.db", "default"]);
    expect(at({ env: { HOME: "/home/u" }, config })).toEqual(["/cfg", "config", "/cfg/cave.db", "default"]);
    expect(at({ env: { HOME: "/home/u" } })).toEqual([
      "/home/u/.local/share/cave",
      "default",
      "/home/u/.local/share/cave/cave.db",
      "default",
    ]);
  });

  test("does not decide the database when a URL is given by flag, CAVE_DB_URL or cave.yaml", () => {
    const base = { uid: 0, cwd: "/", env: {} as Record<string, string> };
    expect(resolveDbLocation({ ...base, flags: { url: ":memory:" }, env: { CAVE_DB_URL: "/e.db" } }).url).toBe(
      ":memory:",
    );
    expect(resolveDbLocation({ ...base, env: { CAVE_DB_URL: "/e.db" }, config: { url: "/c.db" } }).url).toBe("/e.db");
    const l = resolveDbLocation({ ...base, config: { url: "libsql://db.example.com" } });
    expect([l.url, l.urlSource, l.dataDir]).toEqual(["libsql://db.example.com", "config", "/var/lib/cave"]);
  });

  test("an empty --data-dir is a usage error", () => {
    expect(() => resolveDbLocation({ flags: { dataDir: " " } })).toThrow(new CaveError("USAGE", "--data-dir is empty"));
  });
});

describe("a database URL", () => {
  const env = {};
  test("names a local file as a path or a file: URL, relative to the working directory", () => {
    expect(parseStoreUrl("app.db", "/w", env)).toEqual({ kind: "local", path: "/w/app.db" });
    expect(parseStoreUrl("/abs/app.db", "/w", env)).toEqual({ kind: "local", path: "/abs/app.db" });
    expect(parseStoreUrl("file:rel/app.db", "/w", env)).toEqual({ kind: "local", path: "/w/rel/app.db" });
    expect(parseStoreUrl("file:/abs/app.db", "/w", env)).toEqual({ kind: "local", path: "/abs/app.db" });
    expect(parseStoreUrl("file:///abs/a%20b.db", "/w", env)).toEqual({ kind: "local", path: "/abs/a b.db" });
    expect(parseStoreUrl("file://localhost/abs/app.db", "/w", env)).toEqual({ kind: "local", path: "/abs/app.db" });
  });

  test("names an in-memory database as :memory:", () => {
    expect(parseStoreUrl(":memory:", "/w", env)).toEqual({ kind: "local", path: ":memory:" });
  });

  test("names a server with libsql, http(s) or ws(s), and keeps its token out of the shown URL", () => {
    expect(parseStoreUrl("libsql://db.example.com?authToken=s3cret", "/w", env)).toEqual({
      kind: "remote",
      url: "libsql://db.example.com",
      authToken: "s3cret",
    });
    expect(parseStoreUrl("https://db.example.com:8443", "/w", { CAVE_DB_AUTH_TOKEN: "t" })).toEqual({
      kind: "remote",
      url: "https://db.example.com:8443",
      authToken: "t",
    });
    expect(parseStoreUrl("ws://127.0.0.1:8080", "/w", env)).toEqual({ kind: "remote", url: "ws://127.0.0.1:8080" });
  });

  test("with an unknown scheme, a remote file host or user:password is refused with the forms that work", () => {
    const message = (url: string) => {
      try {
        parseStoreUrl(url, "/w", env);
      } catch (e) {
        return [(e as CaveError).code, (e as CaveError).message];
      }
      return [];
    };
    expect(message("postgres://x/y")).toEqual([
      "DB_URL_INVALID",
      'invalid database URL "postgres://x/y": unknown scheme postgres: use a path, file:, libsql://, http(s):// or ws(s)://',
    ]);
    expect(message("file://other/x.db")).toEqual([
      "DB_URL_INVALID",
      'invalid database URL "file://other/x.db": file URLs name a local path, not host other',
    ]);
    expect(message("libsql://u:p@h")).toEqual([
      "DB_URL_INVALID",
      'invalid database URL "libsql://u:p@h": put credentials in ?authToken= or CAVE_DB_AUTH_TOKEN, not user:password@',
    ]);
    expect(message("")).toEqual(["DB_URL_INVALID", 'invalid database URL "": the database URL is empty']);
  });
});
