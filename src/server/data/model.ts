// The data API's picture of the schema: tables, columns, primary keys and foreign keys, read
// from the engine's catalog and SQLite's own metadata (as the owner: names, not rows), and kept
// until SQLite's schema_version moves (DDL by any connection, this one or the CLI's).
import { type ColumnInfo, loadCatalog } from "../../db/catalog/catalog.ts";
import type { Ast } from "../../db/parse/ast.ts";
import { postgresDefault } from "../../db/plan/functions.ts";
import type { Store } from "../../db/store/types.ts";

export interface ForeignKey {
  /** Postgres's default name: <table>_<columns>_fkey. */
  name: string;
  table: string;
  columns: string[];
  refTable: string;
  refColumns: string[];
}

export interface TableModel {
  name: string;
  kind: "table" | "view";
  columns: ColumnInfo[];
  byName: Map<string, ColumnInfo>;
  primaryKey: string[];
}

export interface SchemaModel {
  /** SQLite's schema_version when read. */
  version: number;
  tables: Map<string, TableModel>;
  foreignKeys: ForeignKey[];
}

export async function schemaVersion(store: Store): Promise<number> {
  const r = await store.execute("PRAGMA schema_version", []);
  return Number(r.rows[0]?.[0] ?? 0);
}

export async function loadModel(store: Store): Promise<SchemaModel> {
  const version = await schemaVersion(store);
  const catalog = await loadCatalog(store, version);
  const tables = new Map<string, TableModel>();
  for (const r of catalog.allRelations()) {
    // Copies: the defaults are spelled for clients here, the engine's catalog keeps its own.
    const columns = r.columns.map((c) => ({
      ...c,
      defaultSql: defaultFor(catalog.authDefault(r.name, c.name), c.defaultSql),
    }));
    tables.set(r.name, {
      name: r.name,
      kind: r.kind,
      columns,
      byName: new Map(columns.map((c) => [c.name, c])),
      primaryKey: r.primaryKey,
    });
  }
  const fk = await store.execute(
    `SELECT m.name, f.id, f."table", f."from", f."to" FROM sqlite_schema AS m JOIN pragma_foreign_key_list(m.name) AS f WHERE m.type = 'table' ORDER BY m.name, f.id, f.seq`,
    [],
  );
  const byId = new Map<string, ForeignKey>();
  for (const [table, id, refTable, from, to] of fk.rows as [string, number, string, string, string | null][]) {
    const key = `${table}\u0000${id}`;
    let k = byId.get(key);
    if (!k) byId.set(key, (k = { name: "", table, columns: [], refTable, refColumns: [] }));
    k.columns.push(from);
    k.refColumns.push(to ?? tables.get(refTable)?.primaryKey[k.columns.length - 1] ?? "rowid");
  }
  const foreignKeys = [...byId.values()].map((k) => ({ ...k, name: `${k.table}_${k.columns.join("_")}_fkey` }));
  return { version, tables, foreignKeys };
}

/**
 * A column's DEFAULT as a client wrote it: auth.uid()/role()/jwt() (kept by the catalog, since
 * SQLite cannot hold them), now() and gen_random_uuid() back from SQLite's spelling.
 */
function defaultFor(auth: Ast | undefined, sqlite: string | null | undefined): string | null {
  const fn = (auth as { Function?: { name?: { Identifier?: { value?: string } }[] } } | undefined)?.Function;
  if (fn?.name) return `${fn.name.map((p) => p.Identifier?.value ?? "").join(".")}()`;
  // A longer expression around auth.*: the catalog keeps it parsed, not as text.
  if (auth) return "(an expression of auth.uid(), auth.role() or auth.jwt())";
  return postgresDefault(sqlite ?? null);
}
