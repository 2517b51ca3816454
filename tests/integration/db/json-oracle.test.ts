// JSON operators next to a real PostgreSQL 15: ->, ->>, #>, #>> and ? on the same jsonb
// documents, in the select list and in WHERE, through cave's engine and through node-postgres.
// ->> is text in Postgres whatever the element (2 → '2', true → 'true', null → NULL); SQLite's
// own ->> gives the SQL value, which the data API would have sent as a number or 1.
// Skipped, with the reason, where PostgreSQL's server binaries are missing.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { Engine } from "../../../src/db/engine.ts";
import { openStore } from "../../../src/db/store/index.ts";
import {
  connectPg,
  type PgClient,
  postgresUnavailable,
  startPostgres,
  type ThrowawayPostgres,
} from "../../helpers/postgres.ts";
import { tempStore } from "../../helpers/store.ts";

const unavailable = postgresUnavailable();
if (unavailable) console.warn(`skipping the JSON operator oracle: ${unavailable}`);

const SETUP = [
  "CREATE TABLE docs (id int PRIMARY KEY, data jsonb)",
  `INSERT INTO docs VALUES
     (1, '{"s": "x", "n": 2, "f": 1.5, "t": true, "b": false, "z": null, "o": {"k": "v", "n": 7}, "a": [10, "y", null]}'),
     (2, '{"s": "", "n": -3, "o": {"k": "w"}, "a": []}'),
     (3, NULL)`,
];

/** Queries whose rows must be the same; objects and arrays compare parsed. */
const QUERIES = [
  "SELECT id, data->>'s', data->>'n', data->>'f', data->>'t', data->>'b', data->>'z', data->>'missing' FROM docs ORDER BY id",
  "SELECT id, data->'s', data->'n', data->'t', data->'z', data->'o', data->'a' FROM docs ORDER BY id",
  "SELECT id, data->'o'->>'k', data->'o'->>'n', data->'a'->>0, data->'a'->>1, data->'a'->>2, data->'a'->>9 FROM docs ORDER BY id",
  "SELECT id, data#>>'{o,k}', data#>>'{a,0}', data#>'{o}', data#>>'{nope,x}' FROM docs ORDER BY id",
  "SELECT id FROM docs WHERE data->>'n' = '2'",
  "SELECT id FROM docs WHERE data->>'t' = 'true'",
  "SELECT id FROM docs WHERE data->>'s' = '' ORDER BY id",
  "SELECT id FROM docs WHERE data->>'z' IS NULL ORDER BY id",
  "SELECT id FROM docs WHERE (data->'o'->>'n')::int > 5",
  "SELECT id, data ? 'o', data ? 'nope' FROM docs ORDER BY id",
  "SELECT id, length(data->>'n'), data->>'n' || '!' FROM docs ORDER BY id",
];

const title = `JSON operators next to PostgreSQL 15${unavailable ? ` (skipped: ${unavailable})` : ""}`;

describe.skipIf(unavailable !== null)(title, () => {
  let pg: ThrowawayPostgres | null = null;
  let client: PgClient;
  let engine: Engine;
  let dispose = () => {};

  beforeAll(async () => {
    pg = startPostgres();
    client = await connectPg(pg);
    for (const s of SETUP) await client.query(s);
    const t = tempStore("file");
    dispose = t.dispose;
    engine = await Engine.open(openStore(t.path));
    for (const s of SETUP) await engine.query(s);
  }, 60_000);

  afterAll(async () => {
    await client?.end();
    pg?.stop();
    engine?.close();
    dispose();
  });

  for (const sql of QUERIES) {
    test(sql, async () => {
      const theirs = (await client.query({ text: sql, rowMode: "array" })).rows;
      const ours = (await engine.query(sql)).rows;
      expect(ours).toEqual(theirs);
    });
  }
});
