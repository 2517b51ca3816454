// bkg-db's speed next to its floor, in one run: 10k single-row inserts in one transaction and
// 10k point selects by primary key through cave's SQL pipeline (parse/plan cached by text),
// through cave's store alone, and through raw libsql and raw bun:sqlite. Every database is a
// fresh file in WAL mode with synchronous=FULL (cave's settings), so all pay the same fsyncs.
// Prints a Markdown table and writes JSON; bench/db/run.sh puts the table into docs/benchmarks.md.
// Usage: bun bench/db/bench.ts [--rounds N] [--warmup N] [--rows N] [--json FILE]
import { Database as BunDatabase } from "bun:sqlite";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Libsql from "libsql";
import { LocalStore } from "../../src/db/store/local.ts";

const arg = (name: string, fallback: string) => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? (process.argv[i + 1] ?? fallback) : fallback;
};
const ROUNDS = Number(arg("rounds", "7"));
const ROWS = Number(arg("rows", "10000"));
const JSON_OUT = arg("json", "");
/** Rounds run first and thrown away: the JIT warms every subject's code path. */
const WARMUP = Number(arg("warmup", "2"));

interface Subject {
  name: string;
  /** Creates the table, inserts ROWS rows in one transaction; returns ms for the inserts. */
  insert(path: string): Promise<number>;
  /** ROWS point selects by primary key, in `ids` order; returns ms. */
  select(ids: number[]): Promise<number>;
  close(): void;
}

const CREATE = "CREATE TABLE items (id integer PRIMARY KEY, name text NOT NULL, score real NOT NULL)";
const name = (i: number) => `item-${i}`;

function bunSqlite(): Subject {
  let db: BunDatabase;
  return {
    name: "raw bun:sqlite",
    async insert(path) {
      db = new BunDatabase(path);
      db.run("PRAGMA journal_mode = WAL");
      db.run("PRAGMA synchronous = FULL");
      db.run(CREATE);
      const ins = db.prepare("INSERT INTO items (id, name, score) VALUES (?1, ?2, ?3)");
      const t = performance.now();
      db.run("BEGIN");
      for (let i = 1; i <= ROWS; i++) ins.run(i, name(i), i / 2);
      db.run("COMMIT");
      return performance.now() - t;
    },
    async select(ids) {
      const sel = db.prepare("SELECT id, name, score FROM items WHERE id = ?1");
      const t = performance.now();
      for (const id of ids) if (!sel.values(id)[0]) throw new Error(`row ${id} missing`);
      return performance.now() - t;
    },
    close: () => db.close(),
  };
}

function rawLibsql(): Subject {
  let db: Libsql.Database;
  return {
    name: "raw libsql (sync API)",
    async insert(path) {
      db = new Libsql(path);
      db.exec("PRAGMA journal_mode = WAL");
      db.exec("PRAGMA synchronous = FULL");
      db.exec(CREATE);
      const ins = db.prepare("INSERT INTO items (id, name, score) VALUES (?1, ?2, ?3)");
      const t = performance.now();
      db.exec("BEGIN");
      for (let i = 1; i <= ROWS; i++) ins.run([i, name(i), i / 2]);
      db.exec("COMMIT");
      return performance.now() - t;
    },
    async select(ids) {
      // Its fastest read: raw arrays and 64-bit integers as bigint (measured faster than numbers).
      const sel = db.prepare("SELECT id, name, score FROM items WHERE id = ?1").raw(true).safeIntegers(true);
      const t = performance.now();
      for (const id of ids) if (!sel.get([id])) throw new Error(`row ${id} missing`);
      return performance.now() - t;
    },
    close: () => db.close(),
  };
}

function store(): Subject {
  let s: LocalStore;
  return {
    name: "cave store (LocalStore.execute)",
    async insert(path) {
      s = new LocalStore(path);
      await s.execute(CREATE, []);
      const t = performance.now();
      await s.execute("BEGIN", []);
      for (let i = 1; i <= ROWS; i++)
        await s.execute("INSERT INTO items (id, name, score) VALUES (?1, ?2, ?3)", [i, name(i), i / 2]);
      await s.execute("COMMIT", []);
      return performance.now() - t;
    },
    async select(ids) {
      const t = performance.now();
      for (const id of ids) {
        const r = await s.execute("SELECT id, name, score FROM items WHERE id = ?1", [id]);
        if (r.rows.length !== 1) throw new Error(`row ${id} missing`);
      }
      return performance.now() - t;
    },
    close: () => s.close(),
  };
}

type EngineLike = {
  query(
    sql: string,
    params?: readonly unknown[],
    opts?: { auth?: { role: string; claims: Record<string, unknown> } },
  ): Promise<{ rows: unknown[][] }>;
  close(): void;
};

const OWNER = "a0000000-0000-4000-8000-000000000001";

/**
 * The same point selects as a signed-in user under row-level security: one owner policy
 * (owner = auth.uid()), every row the user's, so each select still finds its row.
 */
function pipelineRls(Engine: { open(store: LocalStore): Promise<EngineLike> }): Subject {
  let s: LocalStore;
  let e: EngineLike;
  const auth = { auth: { role: "authenticated", claims: { sub: OWNER, role: "authenticated" } } };
  return {
    name: "cave SQL pipeline, owner policy (cached)",
    async insert(path) {
      s = new LocalStore(path);
      e = await Engine.open(s);
      await e.query(
        "CREATE TABLE items (id int PRIMARY KEY, owner uuid NOT NULL, name text NOT NULL, score double precision NOT NULL)",
      );
      await e.query("ALTER TABLE items ENABLE ROW LEVEL SECURITY");
      await e.query("CREATE POLICY own ON items FOR ALL TO authenticated USING (owner = auth.uid())");
      const t = performance.now();
      await e.query("BEGIN");
      for (let i = 1; i <= ROWS; i++)
        await e.query(
          "INSERT INTO items (id, owner, name, score) VALUES ($1, $2, $3, $4)",
          [i, OWNER, name(i), i / 2],
          auth,
        );
      await e.query("COMMIT");
      return performance.now() - t;
    },
    async select(ids) {
      const t = performance.now();
      for (const id of ids) {
        const r = await e.query("SELECT id, name, score FROM items WHERE id = $1", [id], auth);
        if (r.rows.length !== 1) throw new Error(`row ${id} missing`);
      }
      return performance.now() - t;
    },
    close: () => {
      e.close();
      s.close();
    },
  };
}

function pipeline(Engine: { open(store: LocalStore): Promise<EngineLike> }): Subject {
  let s: LocalStore;
  let e: EngineLike;
  return {
    name: "cave SQL pipeline (cached)",
    async insert(path) {
      s = new LocalStore(path);
      e = await Engine.open(s);
      await e.query("CREATE TABLE items (id int PRIMARY KEY, name text NOT NULL, score double precision NOT NULL)");
      const t = performance.now();
      await e.query("BEGIN");
      for (let i = 1; i <= ROWS; i++)
        await e.query("INSERT INTO items (id, name, score) VALUES ($1, $2, $3)", [i, name(i), i / 2]);
      await e.query("COMMIT");
      return performance.now() - t;
    },
    async select(ids) {
      const t = performance.now();
      for (const id of ids) {
        const r = await e.query("SELECT id, name, score FROM items WHERE id = $1", [id]);
        if (r.rows.length !== 1) throw new Error(`row ${id} missing`);
      }
      return performance.now() - t;
    },
    close: () => {
      e.close();
      s.close();
    },
  };
}

/** The same shuffled ids for every subject in a round (a seeded LCG). */
function shuffledIds(seed: number): number[] {
  const ids = Array.from({ length: ROWS }, (_, i) => i + 1);
  let x = seed;
  for (let i = ids.length - 1; i > 0; i--) {
    x = (x * 1103515245 + 12345) % 2147483648;
    const j = x % (i + 1);
    [ids[i], ids[j]] = [ids[j] as number, ids[i] as number];
  }
  return ids;
}

const { Engine } = (await import("../../src/db/engine.ts")) as unknown as {
  Engine: { open(store: LocalStore): Promise<EngineLike> };
};
const makers = [() => pipeline(Engine), () => pipelineRls(Engine), store, rawLibsql, bunSqlite];
const times = new Map<string, { insert: number[]; select: number[] }>();
const dir = mkdtempSync(join(tmpdir(), "cave-bench-db-"));
try {
  for (let round = -WARMUP; round < ROUNDS; round++) {
    const ids = shuffledIds(round + 1 + WARMUP);
    // Rotate the order each round so no subject always runs first (cold) or last.
    for (let k = 0; k < makers.length; k++) {
      const subject = (makers[(k + round + WARMUP) % makers.length] as () => Subject)();
      const path = join(dir, `r${round}-${k}.db`);
      const insert = await subject.insert(path);
      const select = await subject.select(ids);
      subject.close();
      if (round < 0) continue;
      const t = times.get(subject.name) ?? { insert: [], select: [] };
      t.insert.push(insert);
      t.select.push(select);
      times.set(subject.name, t);
    }
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? (s[m] as number) : ((s[m - 1] as number) + (s[m] as number)) / 2;
};
const fmt = (ms: number) => ms.toFixed(1);
const rows = [...times].map(([subject, t]) => ({
  subject,
  insertMedianMs: median(t.insert),
  insertMinMs: Math.min(...t.insert),
  selectMedianMs: median(t.select),
  selectMinMs: Math.min(...t.select),
}));
const libsql = rows.find((r) => r.subject.startsWith("raw libsql"));
const pipe = rows.find((r) => r.subject.startsWith("cave SQL pipeline"));
const ratio = libsql && pipe ? pipe.selectMedianMs / libsql.selectMedianMs : Number.NaN;
const rls = rows.find((r) => r.subject.startsWith("cave SQL pipeline, owner policy"));
const rlsRatio = libsql && rls ? rls.selectMedianMs / libsql.selectMedianMs : Number.NaN;
const order = [
  "cave SQL pipeline (cached)",
  "cave SQL pipeline, owner policy (cached)",
  "cave store (LocalStore.execute)",
  "raw libsql (sync API)",
  "raw bun:sqlite",
];
rows.sort((a, b) => order.indexOf(a.subject) - order.indexOf(b.subject));

const table = [
  `| ${ROWS / 1000}k rows, median (min) of ${ROUNDS} rounds | inserts, one transaction (ms) | point selects by PK (ms) | per select (µs) |`,
  "| --- | ---: | ---: | ---: |",
  ...rows.map(
    (r) =>
      `| ${r.subject} | ${fmt(r.insertMedianMs)} (${fmt(r.insertMinMs)}) | ${fmt(r.selectMedianMs)} (${fmt(r.selectMinMs)}) | ${((r.selectMedianMs * 1000) / ROWS).toFixed(1)} |`,
  ),
  "",
  `Cached point selects through the pipeline: **${ratio.toFixed(2)}×** raw libsql's time (target ≤ 2×);`,
  `as a signed-in user under an owner policy (row-level security): **${rlsRatio.toFixed(2)}×**.`,
].join("\n");
console.log(table);
if (JSON_OUT) {
  writeFileSync(
    JSON_OUT,
    `${JSON.stringify({ date: new Date().toISOString(), bun: Bun.version, rows: ROWS, rounds: ROUNDS, results: rows, pipelineVsLibsqlSelect: ratio, ownerPolicyVsLibsqlSelect: rlsRatio }, null, 2)}\n`,
  );
}
