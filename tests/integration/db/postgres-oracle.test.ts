// Errors checked against a real PostgreSQL 15 (the oracle): the same statements through cave's
// engine and through psql must give the same SQLSTATE, message and position. A throwaway
// server (tests/helpers/postgres.ts) is started on a free port and stopped afterwards; the test
// is skipped, with the reason, where PostgreSQL's server binaries or psql are missing.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { Engine } from "../../../src/db/engine.ts";
import { DbError } from "../../../src/db/errors.ts";
import { openStore } from "../../../src/db/store/index.ts";
import { postgresUnavailable, startPostgres, type ThrowawayPostgres } from "../../helpers/postgres.ts";

const unavailable = postgresUnavailable() ?? (Bun.which("psql") === null ? "psql is not installed" : null);

const SETUP = [
  "CREATE TABLE users (id int PRIMARY KEY, name text NOT NULL, team text, email varchar(5) UNIQUE)",
  "CREATE TABLE posts (id int PRIMARY KEY, user_id int REFERENCES users(id), title text)",
  "INSERT INTO users VALUES (1, 'ann', 'red', 'a@x'), (2, 'bob', 'red', 'b@x')",
];

/** Statements whose failure cave reports exactly as PostgreSQL does. */
const SAME = [
  "SELECT * FROM missing",
  "SELECT nope FROM users",
  "SELECT u.nope FROM users u",
  "SELECT x.id FROM users u",
  "SELECT id FROM users, posts",
  "SELEC 1",
  "SELECT 1 +",
  "SELECT * FROM users WHERE id = = 1",
  "INSERT INTO users VALUES (1, 'dup', 'x', 'c@x')",
  "INSERT INTO users (id, name) VALUES (3, NULL)",
  "INSERT INTO users (id, name, email) VALUES (4, 'x', 'toolongemail')",
  "SELECT 'abc'::int",
  "SELECT '99999999999'::int",
  "INSERT INTO users (id, name) VALUES ('12x', 'q')",
  "SELECT team, name FROM users GROUP BY team",
  "SELECT 1 FROM users WHERE sum(id) > 1",
  "SELECT nope(1, 'a')",
  "SELECT 1 FROM users a, users a",
  "CREATE TABLE users (x int)",
  "DROP TABLE nope",
  "SELECT 1, 2 UNION SELECT 1",
  "SELECT id FROM users ORDER BY 5",
  "INSERT INTO users (zz) VALUES (1)",
  "UPDATE users SET zz = 1",
  "SAVEPOINT s",
  "SHOW nope",
  "SELECT interval '1 fortnight'",
  "SELECT 'x'::uuid",
  "SELECT 1::nosuchtype",
  "SELECT CAST(id AS integr) FROM users",
  "SELECT $1::int",
  "INSERT INTO users VALUES (9, 'x') ON CONFLICT (team) DO NOTHING",
];

if (unavailable) console.warn(`skipping the PostgreSQL error oracle: ${unavailable}`);

const title = `errors next to PostgreSQL 15${unavailable ? ` (skipped: ${unavailable})` : ""}`;

describe.skipIf(unavailable !== null)(title, () => {
  let pg: ThrowawayPostgres | null = null;
  let port = 0;

  beforeAll(() => {
    pg = startPostgres();
    port = pg.port;
  }, 60_000);

  afterAll(() => pg?.stop());

  /** PostgreSQL's answer: "ok", or "SQLSTATE message @position" from psql's verbose error. */
  function postgres(sql: string): string {
    const p = Bun.spawnSync(
      [
        "psql",
        "-h",
        "127.0.0.1",
        "-p",
        String(port),
        "-U",
        "postgres",
        "-X",
        "-q",
        "-v",
        "VERBOSITY=verbose",
        "-c",
        sql,
      ],
      { stdout: "pipe", stderr: "pipe" },
    );
    const err = p.stderr.toString();
    if (!err.includes("ERROR")) return "ok";
    const m = /ERROR:\s+(\w{5}): (.*)/.exec(err);
    const lines = err.split("\n");
    const at = lines.findIndex((l) => l.startsWith("LINE 1: "));
    const position = at >= 0 && lines[at + 1] ? lines[at + 1]!.indexOf("^") - "LINE 1: ".length + 1 : 0;
    return `${m?.[1]} ${m?.[2]} @${position}`;
  }

  test("each statement fails in cave with PostgreSQL's SQLSTATE, message and position", async () => {
    for (const s of SETUP) expect(postgres(s)).toBe("ok");
    const engine = await Engine.open(openStore(":memory:"));
    try {
      for (const s of SETUP) await engine.query(s);
      const differences: string[] = [];
      for (const sql of SAME) {
        let cave: string;
        try {
          await engine.query(sql);
          cave = "ok";
        } catch (e) {
          if (!(e instanceof DbError)) throw e;
          cave = `${e.sqlstate} ${e.message} @${e.position}`;
        }
        const pg = postgres(sql);
        if (cave !== pg) differences.push(`${sql}\n  cave: ${cave}\n  pg:   ${pg}`);
      }
      expect(differences).toEqual([]);
    } finally {
      engine.close();
    }
  }, 60_000);
});
