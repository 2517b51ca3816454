// The compiled binary's database, alone: dist/cave copied into an empty directory with no
// node_modules must open a libSQL file (the native addon is embedded by scripts/build.ts)
// and parse SQL (the WASM parser is embedded by src/db/parse/wasm.ts).
import { afterAll, beforeAll, expect, test } from "bun:test";
import {
  chmodSync,
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  rmSync,
  writeFileSync,
} from "node:fs";
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

test("db query creates, inserts with parameters and selects, as a table for people", async () => {
  const create = await db(["query", "CREATE TABLE users (id int PRIMARY KEY, name text NOT NULL, active boolean)"]);
  expect(create).toEqual({ exitCode: 0, stdout: "CREATE TABLE\n", stderr: "" });
  const insert = await db([
    "query",
    "INSERT INTO users (id, name, active) VALUES ($1, $2, true), ($3, $4, false)",
    "--param",
    "1",
    "--param",
    "alice",
    "--param=2",
    "--param=bob",
  ]);
  expect(insert).toEqual({ exitCode: 0, stdout: "INSERT 0 2\n", stderr: "" });
  const select = await db(["query", "SELECT id, name, active FROM users ORDER BY id"]);
  expect(select).toEqual({
    exitCode: 0,
    stdout: " id | name  | active\n----+-------+--------\n  1 | alice | t\n  2 | bob   | f\n(2 rows)\n",
    stderr: "",
  });
});

test("db query --json prints one line with the command, typed columns and rows", async () => {
  const r = await db(["query", "SELECT id, name FROM users WHERE name = $1", "--param", "bob", "--json"]);
  expect(r.exitCode).toBe(0);
  expect(JSON.parse(r.stdout)).toEqual({
    command: "SELECT 1",
    columns: [
      { name: "id", type: "int4" },
      { name: "name", type: "text" },
    ],
    rows: [[2, "bob"]],
    rowCount: 1,
  });
});

test("db query - reads the statement from stdin", async () => {
  const r = await db(["query", "-", "--json"], { stdin: "SELECT count(*) AS n\nFROM users\n" });
  expect(r.exitCode).toBe(0);
  expect(JSON.parse(r.stdout).rows).toEqual([[2]]);
});

test("a SQL error exits 1 with Postgres's wording", async () => {
  const r = await db(["query", "SELECT nope FROM users"]);
  expect(r).toEqual({ exitCode: 1, stdout: "", stderr: 'cave: column "nope" does not exist\n' });
});

test("db shell reads multi-line statements from stdin, keeps going after an error, and records history", async () => {
  const script =
    "SELECT name\n  FROM users\n  WHERE id = 1;\nSELEC 1;\n\\?\nSELECT 'a;b' AS s; SELECT 2 AS two;\n\\q\nSELECT 3;\n";
  const r = await db(["shell"], { stdin: script });
  expect(r.stdout).toBe(
    [
      " name",
      "-------",
      " alice",
      "(1 row)",
      "Statements end with ';' and may span lines.",
      "  \\q    quit (or Ctrl-D)",
      "  \\?    this help",
      "  s",
      "-----",
      " a;b",
      "(1 row)",
      " two",
      "-----",
      "   2",
      "(1 row)",
      "",
    ].join("\n"),
  );
  expect(r.stderr).toStartWith('ERROR:  syntax error at or near "SELEC" (SQLSTATE 42601)\n');
  expect(r.exitCode).toBe(1);
  expect(await Bun.file(join(data, "db_history")).text()).toBe(
    "SELECT name FROM users WHERE id = 1;\nSELEC 1;\nSELECT 'a;b' AS s;\nSELECT 2 AS two;\n",
  );
});

test("a script's last statement runs without its ';', and nothing after \\q runs", async () => {
  const r = await db(["shell", "--url", ":memory:"], { stdin: "SELECT 1 AS a;\nSELECT 2\n  AS b" });
  expect(r).toEqual({ exitCode: 0, stdout: " a\n---\n 1\n(1 row)\n b\n---\n 2\n(1 row)\n", stderr: "" });
  const q = await db(["shell", "--url", ":memory:"], { stdin: "\\q\nSELECT 2" });
  expect(q).toEqual({ exitCode: 0, stdout: "", stderr: "" });
});

test("db migrate applies numbered files once each, and a failing one rolls back and names itself", async () => {
  const migrations = join(dir, "migrations");
  mkdirSync(migrations);
  writeFileSync(join(migrations, "001_items.sql"), "CREATE TABLE items (id int PRIMARY KEY, label text);\n");
  writeFileSync(
    join(migrations, "002_seed.sql"),
    "-- two rows\nINSERT INTO items VALUES (1, 'a;b');\nINSERT INTO items VALUES (2, 'c')\n",
  );
  writeFileSync(join(migrations, "notes.txt"), "not a migration");
  const first = await db(["migrate"]);
  expect(first).toEqual({
    exitCode: 0,
    stdout: "applied 001_items.sql (1 statements)\napplied 002_seed.sql (2 statements)\n2 applied, 0 already applied\n",
    stderr: "",
  });
  const again = await db(["migrate", migrations]);
  expect(again).toEqual({ exitCode: 0, stdout: "nothing to apply: 2 migrations already applied\n", stderr: "" });

  writeFileSync(
    join(migrations, "003_broken.sql"),
    "CREATE TABLE more (id int);\nINSERT INTO more VALUES (1);\nINSERT INTO missing VALUES (1);\n",
  );
  const broken = await db(["migrate"]);
  expect(broken).toEqual({
    exitCode: 1,
    stdout: "",
    stderr:
      'cave: 003_broken.sql, line 3: relation "missing" does not exist\n' +
      "  hint: fix 003_broken.sql and run cave db migrate again; the migrations before it are applied\n",
  });
  const tables = await db(["query", "SELECT version, name FROM cave_migrations ORDER BY version", "--json"]);
  expect(JSON.parse(tables.stdout).rows).toEqual([
    [1, "001_items.sql"],
    [2, "002_seed.sql"],
  ]);
  const more = await db(["query", "SELECT * FROM more"]);
  expect(more).toEqual({ exitCode: 1, stdout: "", stderr: 'cave: relation "more" does not exist\n' });
  const items = await db(["query", "SELECT label FROM items ORDER BY id", "--json"]);
  expect(JSON.parse(items.stdout).rows).toEqual([["a;b"], ["c"]]);
});

test("db check reports ok for a sound database and its backup", async () => {
  const r = await db(["check"]);
  expect(r).toEqual({ exitCode: 0, stdout: `file:${data}/cave.db: ok\n`, stderr: "" });
  const copy = join(dir, "copy.db");
  const j = await db(["check", "--url", copy, "--json"]);
  expect(j.exitCode).toBe(0);
  expect(JSON.parse(j.stdout)).toEqual({ url: `file:${copy}`, ok: true, problems: [] });
});

test("db check of a file that is not a database fails with the reason", async () => {
  const junk = join(dir, "junk.db");
  writeFileSync(junk, "this is not a database, only some text that is long enough".repeat(100));
  const r = await db(["check", "--url", junk]);
  expect(r).toEqual({
    exitCode: 1,
    stdout: "",
    stderr: `cave: ${junk}: file is not a database\n  hint: the file is not a SQLite/libSQL database\n`,
  });
});

test("every insert the compiled shell acknowledged survives kill -9, in seeded rounds", async () => {
  const url = join(dir, "kill.db");
  expect((await db(["query", "--url", url, "CREATE TABLE k (n int PRIMARY KEY, round int NOT NULL)"])).exitCode).toBe(
    0,
  );
  let seed = 7;
  const random = () => {
    seed = (seed * 1103515245 + 12345) % 2147483648;
    return seed / 2147483648;
  };
  let total = 0;
  for (let round = 1; round <= 3; round++) {
    const kill = 20 + Math.floor(random() * 400);
    const statements = Array.from({ length: 2000 }, (_, i) => `INSERT INTO k VALUES (${total + i + 1}, ${round});\n`);
    const child = Bun.spawn([bin, "db", "shell", "--url", url], {
      cwd: dir,
      stdin: "pipe",
      stdout: "pipe",
      stderr: "pipe",
      env: { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: "/tmp", CAVE_DATA_DIR: data },
    });
    child.stdin.write(statements.join(""));
    await child.stdin.flush();
    let acks = 0;
    let text = "";
    const decoder = new TextDecoder();
    for await (const chunk of child.stdout) {
      text += decoder.decode(chunk, { stream: true });
      const lines = text.split("\n");
      text = lines.pop() ?? "";
      acks += lines.filter((l) => l === "INSERT 0 1").length;
      if (acks >= kill && child.signalCode === null) child.kill("SIGKILL");
    }
    await child.exited;
    expect(child.signalCode).toBe("SIGKILL");
    const r = await db([
      "query",
      "--url",
      url,
      "SELECT count(*), max(n) FROM k WHERE round = $1",
      "--param",
      String(round),
      "--json",
    ]);
    const [count, max] = JSON.parse(r.stdout).rows[0] as [number, number];
    // Every acknowledged insert is there (more may have committed before their acknowledgement
    // reached us), and no number is missing below the highest.
    expect(count).toBeGreaterThanOrEqual(acks);
    expect(max - total).toBe(count);
    total = max;
    expect(await db(["check", "--url", url])).toEqual({ exitCode: 0, stdout: `file:${url}: ok\n`, stderr: "" });
  }
}, 60_000);

test("the database comes from --url before CAVE_DB_URL before cave.yaml's db section", async () => {
  const project = join(dir, "project");
  mkdirSync(project);
  const fromYaml = join(project, "yaml-data");
  writeFileSync(join(project, "cave.yaml"), `db:\n  data_dir: ${fromYaml}\n`);
  const run = (args: string[], env: Record<string, string> = {}) =>
    cave(["db", "checkpoint", ...args], { binary: bin, cwd: project, env: { HOME: "/tmp", ...env } });
  expect((await run([])).stdout).toBe(`file:${fromYaml}/cave.db: checkpointed 0 pages; the WAL is truncated\n`);
  const envDb = join(project, "env.db");
  expect((await run([], { CAVE_DB_URL: envDb })).stdout).toBe(
    `file:${envDb}: checkpointed 0 pages; the WAL is truncated\n`,
  );
  expect((await run(["--url", ":memory:"], { CAVE_DB_URL: envDb })).stdout).toBe(
    ":memory:: checkpointed 0 pages; the WAL is truncated\n",
  );
  writeFileSync(join(project, "cave.yaml"), "db:\n  data_dir: relative/dir\n");
  expect(await run([])).toEqual({
    exitCode: 2,
    stdout: "",
    stderr: `cave: ${join(project, "cave.yaml")}:2:13: db.data_dir: "relative/dir" is not an absolute path\n`,
  });
});
