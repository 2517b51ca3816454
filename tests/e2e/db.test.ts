// The compiled binary's database, alone: dist/cave copied into an empty directory with no
// node_modules must open a libSQL file (the native addon is embedded by scripts/build.ts)
// and parse SQL (the WASM parser is embedded by src/db/parse/wasm.ts).
import { afterAll, beforeAll, expect, test } from "bun:test";
import { chmodSync, copyFileSync, existsSync, mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { CAVE, cave } from "../helpers/cave.ts";

let dir: string;
let bin: string;
let data: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "cave-e2e-db-"));
  bin = join(dir, "cave");
  copyFileSync(CAVE, bin);
  chmodSync(bin, 0o755);
  data = join(dir, "data");
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const db = (args: string[], opts: { stdin?: string; env?: Record<string, string> } = {}) =>
  cave(["db", ...args], { binary: bin, cwd: dir, env: { CAVE_DATA_DIR: data, ...opts.env }, ...opts });

test("the binary has no node_modules beside or above it", () => {
  expect(readdirSync(dir)).toEqual(["cave"]);
  for (let d = dir; d !== "/"; d = join(d, "..")) expect(existsSync(join(d, "node_modules"))).toBe(false);
});

test("db checkpoint creates the database in CAVE_DATA_DIR and truncates its WAL", async () => {
  const r = await db(["checkpoint"]);
  expect(r).toEqual({
    exitCode: 0,
    stdout: `file:${data}/cave.db: checkpointed 0 pages; the WAL is truncated\n`,
    stderr: "",
  });
  expect(readdirSync(data).sort()).toEqual(["cave.db", "cave.db-shm", "cave.db-wal"]);
});

test("db backup writes a copy and refuses to overwrite it", async () => {
  const copy = join(dir, "copy.db");
  const r = await db(["backup", copy, "--json"]);
  expect(r.exitCode).toBe(0);
  expect(JSON.parse(r.stdout)).toEqual({ url: `file:${data}/cave.db`, file: copy, bytes: 4096 });
  const again = await db(["backup", copy]);
  expect(again).toEqual({
    exitCode: 2,
    stdout: "",
    stderr: `cave: ${copy} already exists\n  hint: give a new file name; a backup never overwrites\n`,
  });
});

test("a database in a directory that does not exist is refused with the fix", async () => {
  const r = await db(["checkpoint", "--url", join(dir, "nope", "x.db")]);
  expect(r).toEqual({
    exitCode: 1,
    stdout: "",
    stderr: `cave: the directory of ${join(dir, "nope", "x.db")} does not exist\n  hint: create it, or give another --url\n`,
  });
});

test("cave run still works from the same binary", async () => {
  const r = await cave(["run", "--", "true"], { binary: bin, cwd: dir });
  expect(r).toEqual({ exitCode: 0, stdout: "", stderr: "" });
});
