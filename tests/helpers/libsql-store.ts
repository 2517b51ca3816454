// A minimal Store over the `libsql` package's synchronous API for the engine's tests: a real
// database file (WAL) or :memory:, no mocks. Kept beside src/db/store's openStore because that
// store's single-row get() path leaves statements active, so DROP TABLE after a point read
// fails with SQLITE_LOCKED (reported to the store's owner); switch to openStore once fixed.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Database from "libsql";
import type { Store, StoreResult, StoreValue } from "../../src/db/store/types.ts";

type Db = InstanceType<typeof Database>;
type Stmt = ReturnType<Db["prepare"]>;

export class TestStore implements Store {
  readonly url: string;
  private readonly db: Db;
  private readonly stmts = new Map<string, Stmt>();

  constructor(path: string) {
    this.url = path === ":memory:" ? ":memory:" : `file:${path}`;
    this.db = new Database(path);
    if (path !== ":memory:") this.db.exec("PRAGMA journal_mode = WAL");
  }

  async execute(sql: string, params: readonly StoreValue[]): Promise<StoreResult> {
    let st = this.stmts.get(sql);
    if (!st) {
      st = this.db.prepare(sql);
      if (st.reader) st.safeIntegers(true);
      if (this.stmts.size > 500) this.stmts.clear();
      this.stmts.set(sql, st);
    }
    const args = params as StoreValue[];
    if (st.reader) {
      const rows = st.raw(true).all(args) as unknown[][];
      const cols = st.columns() as { name: string; type: string | null }[];
      return { columns: cols.map((c) => c.name), columnTypes: cols.map((c) => c.type ?? ""), rows, rowsAffected: 0, lastInsertRowid: null };
    }
    const r = st.run(args) as { changes: number; lastInsertRowid: number | bigint };
    return { columns: [], columnTypes: [], rows: [], rowsAffected: r.changes, lastInsertRowid: BigInt(r.lastInsertRowid ?? 0) };
  }

  inTransaction(): boolean {
    return this.db.inTransaction;
  }

  async checkpoint() {
    return { busy: 0, log: 0, checkpointed: 0 };
  }

  async backup(path: string): Promise<void> {
    this.db.prepare("VACUUM INTO ?1").run([path]);
  }

  close(): void {
    this.db.close();
  }
}

/** A store on a fresh temp file (removed by `dispose`), or on :memory:. */
export function tempStore(kind: "file" | "memory" = "file"): { store: TestStore; path: string; dispose(): void } {
  if (kind === "memory") {
    const store = new TestStore(":memory:");
    return {
      store,
      path: ":memory:",
      dispose() {
        try {
          store.close();
        } catch {
          // already closed by the engine
        }
      },
    };
  }
  const dir = mkdtempSync(join(tmpdir(), "cave-db-test-"));
  const path = join(dir, "test.db");
  const store = new TestStore(path);
  return {
    store,
    path,
    dispose() {
      try {
        store.close();
      } catch {
        // already closed by the engine
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
