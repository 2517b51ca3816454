// The catalog: tables, views and indexes read from the database, with each column's Postgres
// type from cave's own table `_cave_columns` (SQLite keeps only affinities). Cached by the
// engine and stamped with a version; DDL through the engine bumps it.
import type { Ast } from "../parse/ast.ts";
import type { Store } from "../store/types.ts";
import { pgTypeFromDecl } from "./types.ts";

export const CATALOG_TABLE = "_cave_columns";
/**
 * cave's own catalog objects beyond column types, one row each: `rls` (a table's ENABLE/FORCE
 * ROW LEVEL SECURITY flags), `policy`, `default` (a column DEFAULT that calls auth.*, evaluated
 * per statement), `view` (a view's query as parsed, for security-invoker expansion), `function`
 * (a user-defined SQL function, rel '': FunctionInfo without its name). `data` is JSON.
 */
export const OBJECTS_TABLE = "_cave_objects";

export type PolicyCommand = "all" | "select" | "insert" | "update" | "delete";

export interface PolicyInfo {
  name: string;
  table: string;
  permissive: boolean;
  command: PolicyCommand;
  /** Lower-cased role names; "public" means every role. */
  roles: string[];
  /** The parser's AST of the USING / WITH CHECK expression. */
  using: Ast | null;
  check: Ast | null;
  /** The same expressions as the user wrote them (GET /schema, /policy); absent in older catalogs. */
  usingSql?: string | null;
  checkSql?: string | null;
}

export type Volatility = "volatile" | "stable" | "immutable";

/** A user-defined SQL function (LANGUAGE sql, SECURITY INVOKER), as CREATE FUNCTION stored it. */
export interface FunctionInfo {
  name: string;
  args: FunctionArg[];
  /**
   * What it returns: `type` is a base type name ("int4", "void"), or a relation whose rows it
   * returns (composite); `set` for SETOF and RETURNS TABLE; `columns` for RETURNS TABLE (…).
   */
  returns: { set: boolean; type: string; columns: { name: string; type: string }[] | null };
  volatility: Volatility;
  /** The body's SQL text, parsed when the function is called. */
  body: string;
}

export interface FunctionArg {
  /** null for an unnamed argument (reachable as $n only). */
  name: string | null;
  type: string;
  /** The DEFAULT expression as parsed (absent options stored as null). */
  default: Ast | null;
}

export interface TableSecurity {
  enabled: boolean;
  forced: boolean;
}

export interface ObjectRow {
  kind: string;
  rel: string;
  name: string;
  data: string;
}

export interface ColumnInfo {
  name: string;
  /** Postgres type, e.g. "int4", "varchar(20)", "jsonb". */
  type: string;
  notNull: boolean;
  /** Has a default (or is an identity/serial column). */
  hasDefault: boolean;
  /** The default as SQLite keeps it (SQL text from the table's definition), for SET c = DEFAULT. */
  defaultSql?: string | null;
}

export interface RelationInfo {
  name: string;
  kind: "table" | "view";
  columns: ColumnInfo[];
  /** Primary key columns (tables only; empty when none). */
  primaryKey: string[];
  /** SQLite's CREATE statement, as stored in sqlite_schema. */
  sql: string;
}

export interface IndexInfo {
  name: string;
  table: string;
  /** Indexed columns in order (empty for expression indexes). */
  columns: string[];
  unique: boolean;
}

export class Catalog {
  readonly version: number;
  private readonly relations = new Map<string, RelationInfo>();
  private readonly relationsFolded = new Map<string, RelationInfo>();
  readonly indexes = new Map<string, IndexInfo>();
  private readonly security = new Map<string, TableSecurity>();
  private readonly policiesByTable = new Map<string, PolicyInfo[]>();
  private readonly authDefaults = new Map<string, Ast>();
  private readonly viewQueries = new Map<string, Ast>();
  private readonly functionsByName = new Map<string, FunctionInfo>();
  /** Some table has FORCE ROW LEVEL SECURITY: the owner's statements need policies too. */
  readonly anyForced: boolean;

  constructor(version: number, relations: RelationInfo[], indexes: IndexInfo[], objects: ObjectRow[] = []) {
    this.version = version;
    let forced = false;
    for (const o of objects) {
      const data = JSON.parse(o.data);
      switch (o.kind) {
        case "rls":
          this.security.set(o.rel, { enabled: !!data.enabled, forced: !!data.forced });
          forced ||= !!data.forced;
          break;
        case "policy": {
          let list = this.policiesByTable.get(o.rel);
          if (!list) this.policiesByTable.set(o.rel, (list = []));
          list.push({ ...data, name: o.name, table: o.rel });
          break;
        }
        case "default":
          this.authDefaults.set(`${o.rel}\u0000${o.name}`, data);
          break;
        case "view":
          this.viewQueries.set(o.rel, data);
          break;
        case "function":
          this.functionsByName.set(o.name, { ...data, name: o.name });
          break;
      }
    }
    this.anyForced = forced;
    for (const r of relations) {
      this.relations.set(r.name, r);
      this.relationsFolded.set(r.name.toLowerCase(), r);
    }
    for (const i of indexes) this.indexes.set(i.name.toLowerCase(), i);
  }

  /** A relation by name: exact first, then case-insensitively (SQLite's own rule). */
  relation(name: string): RelationInfo | undefined {
    return this.relations.get(name) ?? this.relationsFolded.get(name.toLowerCase());
  }

  index(name: string): IndexInfo | undefined {
    return this.indexes.get(name.toLowerCase());
  }

  /** ENABLE / FORCE ROW LEVEL SECURITY of a table (both off when never set). */
  tableSecurity(table: string): TableSecurity {
    return this.security.get(table) ?? { enabled: false, forced: false };
  }

  /** The table's policies, in name order (Postgres checks restrictive ones by name). */
  policies(table: string): PolicyInfo[] {
    return this.policiesByTable.get(table) ?? [];
  }

  /** A column's DEFAULT that calls auth.*, as parsed; evaluated per statement. */
  authDefault(table: string, column: string): Ast | undefined {
    return this.authDefaults.get(`${table}\u0000${column}`);
  }

  /** A view's defining query as parsed (views created before row-level security have none). */
  viewQuery(view: string): Ast | undefined {
    return this.viewQueries.get(view);
  }

  /** A user-defined function by its (folded) name. */
  function(name: string): FunctionInfo | undefined {
    return this.functionsByName.get(name);
  }

  allFunctions(): FunctionInfo[] {
    return [...this.functionsByName.values()];
  }

  allRelations(): RelationInfo[] {
    return [...this.relations.values()];
  }
}

/** Names the user may not create or touch: SQLite's and cave's own. */
export function isReservedName(name: string): boolean {
  const n = name.toLowerCase();
  return n.startsWith("sqlite_") || n.startsWith("_cave_");
}

export async function ensureCatalogTable(store: Store): Promise<void> {
  await store.execute(
    `CREATE TABLE IF NOT EXISTS "${CATALOG_TABLE}" (rel TEXT NOT NULL, pos INTEGER NOT NULL, name TEXT NOT NULL, type TEXT NOT NULL, not_null INTEGER NOT NULL DEFAULT 0, has_default INTEGER NOT NULL DEFAULT 0, PRIMARY KEY (rel, pos)) WITHOUT ROWID`,
    [],
  );
  await store.execute(
    `CREATE TABLE IF NOT EXISTS "${OBJECTS_TABLE}" (kind TEXT NOT NULL, rel TEXT NOT NULL, name TEXT NOT NULL, data TEXT NOT NULL, PRIMARY KEY (kind, rel, name)) WITHOUT ROWID`,
    [],
  );
}

export async function loadCatalog(store: Store, version: number): Promise<Catalog> {
  const schema = await store.execute(
    // SQLite's own autoindexes (inline UNIQUE / PRIMARY KEY) are kept: ON CONFLICT ON CONSTRAINT needs them.
    "SELECT type, name, tbl_name, sql FROM sqlite_schema WHERE type IN ('table', 'view', 'index') AND (name NOT LIKE 'sqlite\\_%' ESCAPE '\\' OR name LIKE 'sqlite\\_autoindex\\_%' ESCAPE '\\') AND name NOT LIKE '\\_cave\\_%' ESCAPE '\\'",
    [],
  );
  const cols = await store.execute(
    `SELECT rel, name, type, not_null, has_default FROM "${CATALOG_TABLE}" ORDER BY rel, pos`,
    [],
  );
  const info = await store.execute(
    "SELECT m.name, p.name, p.pk, p.dflt_value FROM sqlite_schema AS m JOIN pragma_table_info(m.name) AS p WHERE m.type = 'table' ORDER BY m.name, p.pk",
    [],
  );
  const idx = await store.execute(
    "SELECT m.name, i.name FROM sqlite_schema AS m JOIN pragma_index_info(m.name) AS i WHERE m.type = 'index' ORDER BY m.name, i.seqno",
    [],
  );
  const indexCols = new Map<string, string[]>();
  for (const [index, col] of idx.rows as [string, string | null][]) {
    let list = indexCols.get(index);
    if (!list) indexCols.set(index, (list = []));
    if (col !== null) list.push(col);
  }
  const pkOf = new Map<string, string[]>();
  const defaults = new Map<string, string>();
  for (const [rel, col, pk, dflt] of info.rows as [string, string, number | bigint, string | null][]) {
    if (dflt !== null) defaults.set(`${rel}\u0000${col}`, dflt);
    if (Number(pk) === 0) continue;
    let list = pkOf.get(rel);
    if (!list) pkOf.set(rel, (list = []));
    list.push(col);
  }
  const byRel = new Map<string, ColumnInfo[]>();
  for (const [rel, name, type, notNull, hasDefault] of cols.rows as [string, string, string, number, number][]) {
    let list = byRel.get(rel);
    if (!list) byRel.set(rel, (list = []));
    list.push({ name, type, notNull: Number(notNull) === 1, hasDefault: Number(hasDefault) === 1 });
  }
  const relations: RelationInfo[] = [];
  const indexes: IndexInfo[] = [];
  for (const [type, name, tblName, sql] of schema.rows as [string, string, string, string | null][]) {
    if (type === "index") {
      indexes.push({
        name,
        table: tblName,
        columns: indexCols.get(name) ?? [],
        unique: /^\s*CREATE\s+UNIQUE\b/i.test(sql ?? "") || name.startsWith("sqlite_autoindex_"),
      });
      continue;
    }
    let columns = byRel.get(name);
    if (!columns) {
      // A relation made outside cave: take SQLite's declared types.
      const info = await store.execute(`SELECT name, type, "notnull", dflt_value, pk FROM pragma_table_info(?1)`, [
        name,
      ]);
      columns = (info.rows as [string, string, number, unknown, number][]).map(([n, decl, nn, dflt, pk]) => ({
        name: n,
        type: pgTypeFromDecl(decl ?? ""),
        notNull: Number(nn) === 1,
        hasDefault: dflt !== null || (Number(pk) === 1 && /^INTEGER$/i.test(decl ?? "")),
      }));
    }
    for (const c of columns) c.defaultSql = defaults.get(`${name}\u0000${c.name}`) ?? null;
    relations.push({
      name,
      kind: type === "view" ? "view" : "table",
      columns,
      primaryKey: pkOf.get(name) ?? [],
      sql: sql ?? "",
    });
  }
  const objects = await store.execute(
    `SELECT kind, rel, name, data FROM "${OBJECTS_TABLE}" ORDER BY kind, rel, name`,
    [],
  );
  const objectRows = (objects.rows as [string, string, string, string][]).map(([kind, rel, name, data]) => ({
    kind,
    rel,
    name,
    data,
  }));
  return new Catalog(version, relations, indexes, objectRows);
}

/** One user-defined function, read as the owner without loading the whole catalog (the data API's rpc). */
export async function readFunction(store: Store, name: string): Promise<FunctionInfo | undefined> {
  const r = await store.execute(
    `SELECT data FROM "${OBJECTS_TABLE}" WHERE kind = 'function' AND rel = '' AND name = ?1`,
    [name],
  );
  const data = r.rows[0]?.[0];
  return typeof data === "string" ? { ...JSON.parse(data), name } : undefined;
}
