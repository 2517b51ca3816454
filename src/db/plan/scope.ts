// Name resolution: which relation a column name refers to, walking out through enclosing
// queries for correlated subqueries. Postgres's rules and error wording (42703, 42702, 42P01).
import { DbError, SQLSTATE } from "../errors.ts";
import type { BExpr } from "./expr-types.ts";

export interface ScopeColumn {
  name: string;
  type: string;
}

export interface ScopeEntry {
  /** The name the user refers to it by (alias, or table name). */
  alias: string;
  /** The alias the emitted SQL uses (unique within the statement). */
  emitAlias: string;
  columns: ScopeColumn[];
  /** Primary key columns of a stored table: grouping by them groups by every column. */
  primaryKey?: string[];
}

export interface CteInfo {
  name: string;
  columns: ScopeColumn[];
}

function findColumn(cols: ScopeColumn[], name: string): ScopeColumn | undefined {
  return cols.find((c) => c.name === name) ?? cols.find((c) => c.name.toLowerCase() === name.toLowerCase());
}

export class Scope {
  readonly entries: ScopeEntry[] = [];
  /** Columns merged by JOIN … USING / NATURAL: the unqualified name means this expression. */
  readonly merged = new Map<string, BExpr>();
  readonly ctes = new Map<string, CteInfo>();

  constructor(readonly parent: Scope | null) {}

  add(entry: ScopeEntry, _position: number): void {
    if (this.entries.some((e) => e.alias === entry.alias)) {
      // Postgres reports no position for this one.
      throw new DbError(SQLSTATE.duplicateAlias, `table name "${entry.alias}" specified more than once`);
    }
    this.entries.push(entry);
  }

  cte(name: string): CteInfo | undefined {
    for (let s: Scope | null = this; s; s = s.parent) {
      const c = s.ctes.get(name) ?? s.ctes.get(name.toLowerCase());
      if (c) return c;
    }
    return undefined;
  }

  /** An unqualified column reference. */
  resolve(name: string, position: number): BExpr {
    for (let s: Scope | null = this; s; s = s.parent) {
      const m = s.merged.get(name) ?? s.merged.get(name.toLowerCase());
      if (m) return m;
      let found: { e: ScopeEntry; c: ScopeColumn } | null = null;
      for (const e of s.entries) {
        const c = findColumn(e.columns, name);
        if (!c) continue;
        if (found) throw new DbError(SQLSTATE.ambiguousColumn, `column reference "${name}" is ambiguous`, { position });
        found = { e, c };
      }
      if (found) return { k: "col", qual: found.e.emitAlias, name: found.c.name, type: found.c.type, pos: position };
    }
    // A relation's name alone is its whole row (`SELECT json_agg(t) FROM t`): a JSON object.
    const whole = this.entry(name);
    if (whole) return wholeRow(whole);
    throw new DbError(SQLSTATE.undefinedColumn, `column "${name}" does not exist`, { position });
  }

  /** The entry a qualifier names, searching outwards. */
  entry(qualifier: string): ScopeEntry | undefined {
    for (let s: Scope | null = this; s; s = s.parent) {
      const e =
        s.entries.find((x) => x.alias === qualifier) ??
        s.entries.find((x) => x.alias.toLowerCase() === qualifier.toLowerCase());
      if (e) return e;
    }
    return undefined;
  }

  /** A qualified column reference `t.a`. */
  resolveQualified(qualifier: string, name: string, position: number): BExpr {
    const e = this.entry(qualifier);
    if (!e) throw new DbError(SQLSTATE.undefinedTable, `missing FROM-clause entry for table "${qualifier}"`, { position });
    const c = findColumn(e.columns, name);
    if (!c) throw new DbError(SQLSTATE.undefinedColumn, `column ${qualifier}.${name} does not exist`, { position });
    return { k: "col", qual: e.emitAlias, name: c.name, type: c.type, pos: position };
  }
}

/** A value as JSON inside JSON functions: json/jsonb text parsed, booleans as true/false. */
export function jsonValue(e: BExpr): BExpr {
  const t = e.type.replace(/\(.*$/, "");
  if (t === "json" || t === "jsonb") return { k: "func", sql: "json($1)", args: [e], type: t };
  if (t === "bool") return { k: "func", sql: "json(CASE WHEN $1 IS NULL THEN NULL WHEN $1 = 0 THEN 'false' ELSE 'true' END)", args: [e], type: "json" };
  return e;
}

/** A whole-row reference: json_object('col', value, …) over the relation's columns. */
export function wholeRow(e: ScopeEntry): BExpr {
  const args: BExpr[] = [];
  const parts: string[] = [];
  for (const c of e.columns) {
    args.push({ k: "str", value: c.name, type: "text" });
    args.push(jsonValue({ k: "col", qual: e.emitAlias, name: c.name, type: c.type }));
    parts.push(`$${args.length - 1}, $${args.length}`);
  }
  return { k: "func", sql: `json_object(${parts.join(", ")})`, args, type: "record" };
}
