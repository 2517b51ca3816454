// PostgREST requests → SQL for the engine. Every identifier is checked against the schema model
// and quoted by the engine's one quoting function; every value is a bound $n parameter. The
// result is a plan of statements plus the shape that turns their rows into PostgREST's JSON.
// Embedded relations are one extra statement per relation (keys bound as one array: = ANY($1)),
// not one per parent row.
import { quoteIdent, quoteLiteral } from "../../../db/emit/quote.ts";
import type { ForeignKey, SchemaModel, TableModel } from "../model.ts";
import { badRequest, RestError } from "./errors.ts";
import type { Filter, JsonStep, OrderTerm, ParsedQuery, Prefer, ResourceOptions, SelectItem } from "./parse.ts";

/** A statement being assembled: text and its bound values, numbered as they are added. */
class Sql {
  readonly params: unknown[] = [];
  constructor(private readonly first = 1) {}
  bind(value: unknown): string {
    this.params.push(value);
    return `$${this.first + this.params.length - 1}`;
  }
}

export type Output = { kind: "col"; key: string; index: number } | { kind: "embed"; key: string; embed: number };

/** How a row (positional, as the engine returns it) becomes a JSON object. */
export interface Shape {
  outputs: Output[];
  embeds: EmbedPlan[];
}

export interface EmbedPlan {
  key: string;
  /** one-to-many (an array) or many-to-one (an object or null). */
  many: boolean;
  inner: boolean;
  /** Where the parent row holds the join value. */
  parentIndex: number;
  /** SELECT … FROM child WHERE <childKey> = ANY($1) …: $1 is the parents' keys. */
  sql: string;
  params: unknown[];
  /** Where the child row holds the join value. */
  childIndex: number;
  shape: Shape;
  limit: number | null;
  offset: number | null;
}

export interface ReadPlan {
  sql: string;
  params: unknown[];
  shape: Shape;
  /** SELECT count(*) with the same filters, for Prefer: count=exact. */
  countSql: string;
  countParams: unknown[];
  offset: number;
}

export const q = quoteIdent;

export function tableOf(model: SchemaModel, name: string): TableModel {
  const t = model.tables.get(name);
  if (!t)
    throw new RestError(404, "PGRST205", `Could not find the table 'public.${name}' in the schema cache`, null, null);
  return t;
}

function columnOf(t: TableModel, name: string): string {
  if (!t.byName.has(name)) throw new RestError(400, "42703", `column ${t.name}.${name} does not exist`, null, null);
  return name;
}

/** The types select= may cast to (the engine reads each; a name outside them is Postgres's 42704). */
const CAST_TYPES = new Set([
  "text", "varchar", "char", "int", "integer", "int2", "int4", "int8", "smallint", "bigint", "numeric", "decimal",
  "real", "float4", "float8", "bool", "boolean", "json", "jsonb", "uuid", "date", "time", "timestamp", "timestamptz",
]);

function castType(name: string): string {
  if (!CAST_TYPES.has(name)) throw new RestError(400, "42704", `type "${name}" does not exist`, null, `cast to one of: ${[...CAST_TYPES].join(", ")}`);
  return name;
}

/**
 * A checked column, and its JSON steps: `data->a->>b` is ("data" -> 'a' ->> 'b'), a key of
 * digits an array index. The keys are SQL literals (quoted by the one quoting function), not
 * bound values, so the engine sees each path as a constant and keeps one plan for it.
 */
function columnExpr(t: TableModel, name: string, path: readonly JsonStep[], prefix = ""): string {
  const col = `${prefix}${q(columnOf(t, name))}`;
  if (path.length === 0) return col;
  const steps = path.map((s) => ` ${s.arrow} ${/^\d+$/.test(s.key) ? s.key : quoteLiteral(s.key)}`).join("");
  return `(${col}${steps})`;
}

/** Numbers and booleans of a list filter (= ANY($n)) typed in JS, since a JSON array carries no column type. */
function typed(t: TableModel, column: string, value: string): unknown {
  const type = t.byName.get(column)?.type ?? "text";
  if (/^(int[248]|float[48]|numeric)/.test(type) && value.trim() !== "" && Number.isFinite(Number(value)))
    return Number(value);
  if (type === "bool") {
    if (value === "true" || value === "t") return true;
    if (value === "false" || value === "f") return false;
  }
  return value;
}

const COMPARE: Record<string, string> = {
  eq: "=",
  neq: "<>",
  gt: ">",
  gte: ">=",
  lt: "<",
  lte: "<=",
  like: "LIKE",
  ilike: "ILIKE",
};

function condition(t: TableModel, f: Filter, sql: Sql, prefix: string): string {
  if (f.kind === "logic") {
    const parts = f.children.map((c) => condition(t, c, sql, prefix));
    const joined = `(${parts.join(f.op === "and" ? " AND " : " OR ")})`;
    return f.negate ? `NOT ${joined}` : joined;
  }
  const col = columnExpr(t, f.column, f.path, prefix);
  let text: string;
  switch (f.op) {
    case "is": {
      const v = f.value as string;
      text =
        v === "null"
          ? `${col} IS NULL`
          : v === "not_null"
            ? `${col} IS NOT NULL`
            : v === "true"
              ? `${col} IS TRUE`
              : v === "false"
                ? `${col} IS FALSE`
                : `${col} IS UNKNOWN`;
      break;
    }
    case "isdistinct":
      text = `${col} IS DISTINCT FROM ${sql.bind(f.value)}`;
      break;
    case "in":
      // Through a JSON path the values stay text: ->> is text (and -> compares JSON text).
      text = `${col} = ANY(${sql.bind((f.value as string[]).map((v) => (f.path.length ? v : typed(t, f.column, v))))})`;
      break;
    default: {
      const op = COMPARE[f.op]!;
      const like = f.op === "like" || f.op === "ilike";
      const val = (v: string) => sql.bind(like ? v.replaceAll("*", "%") : v);
      if (f.quantifier) {
        const list = f.value as string[];
        if (list.length === 0) text = f.quantifier === "any" ? "FALSE" : "TRUE";
        else text = `(${list.map((v) => `${col} ${op} ${val(v)}`).join(f.quantifier === "any" ? " OR " : " AND ")})`;
      } else text = `${col} ${op} ${val(f.value as string)}`;
    }
  }
  return f.negate ? `NOT (${text})` : text;
}

export function whereClause(t: TableModel, filters: Filter[], sql: Sql, prefix = ""): string {
  if (filters.length === 0) return "";
  return filters.map((f) => condition(t, f, sql, prefix)).join(" AND ");
}

function orderClause(t: TableModel, order: OrderTerm[], prefix = ""): string {
  if (order.length === 0) return "";
  return ` ORDER BY ${order
    .map(
      (o) =>
        `${columnExpr(t, o.column, o.path, prefix)}${o.desc ? " DESC" : " ASC"}${o.nulls === "first" ? " NULLS FIRST" : o.nulls === "last" ? " NULLS LAST" : ""}`,
    )
    .join(", ")}`;
}

/**
 * How an embedded resource joins its parent: child rows match the parent's `parentCol` on
 * `childCol`, a column of the target, or, many-to-many, of the junction table between them.
 */
interface Relationship {
  target: TableModel;
  /** one-to-many and many-to-many: an array; many-to-one: an object or null. */
  many: boolean;
  parentCol: string;
  childCol: string;
  /** Many-to-many: the junction table, its column that references the target, and that column's target. */
  junction: { table: string; toTarget: string; targetCol: string } | null;
  /** What a hint names to pick this one: the foreign key's name, or the junction's. */
  name: string;
}

/** The alias of the junction table in a many-to-many embed's statement (no user table is cave_*). */
const JUNCTION = "cave_junction";

/**
 * The relationship an embedded name (and hint) stands for, seen from `from`: a foreign key
 * either way, or PostgREST's many-to-many through a junction table whose primary key holds a
 * foreign key to each side.
 */
function relationship(model: SchemaModel, from: TableModel, name: string, hint: string | null): Relationship {
  type Candidate = Omit<Relationship, "target"> & { target: string; fks: ForeignKey[] };
  const candidates: Candidate[] = [];
  const direct = (fk: ForeignKey, many: boolean, target: string) =>
    candidates.push({
      target,
      many,
      parentCol: (many ? fk.refColumns[0] : fk.columns[0]) as string,
      childCol: (many ? fk.columns[0] : fk.refColumns[0]) as string,
      junction: null,
      name: fk.name,
      fks: [fk],
    });
  for (const fk of model.foreignKeys) {
    // many-to-one: from has the key pointing at `name` (named by table, or by the key column).
    if (fk.table === from.name && (fk.refTable === name || (fk.columns.length === 1 && fk.columns[0] === name)))
      direct(fk, false, fk.refTable);
    // one-to-many: `name` has a key pointing at from.
    if (fk.refTable === from.name && fk.table === name) direct(fk, true, fk.table);
  }
  // many-to-many: a junction J with a key to `from` and another to `name`, both in J's primary key.
  for (const toFrom of model.foreignKeys) {
    if (toFrom.refTable !== from.name || toFrom.table === from.name || toFrom.table === name) continue;
    const junction = model.tables.get(toFrom.table);
    if (!junction || !toFrom.columns.every((c) => junction.primaryKey.includes(c))) continue;
    for (const toTarget of model.foreignKeys) {
      if (toTarget === toFrom || toTarget.table !== junction.name || toTarget.refTable !== name) continue;
      if (!toTarget.columns.every((c) => junction.primaryKey.includes(c))) continue;
      candidates.push({
        target: name,
        many: true,
        parentCol: toFrom.refColumns[0] as string,
        childCol: toFrom.columns[0] as string,
        junction: { table: junction.name, toTarget: toTarget.columns[0] as string, targetCol: toTarget.refColumns[0] as string },
        name: junction.name,
        fks: [toFrom, toTarget],
      });
    }
  }
  const matching =
    hint === null
      ? candidates
      : candidates.filter(
          (c) =>
            c.name === hint ||
            c.fks.some((fk) => fk.name === hint || (fk.columns.length === 1 && fk.columns[0] === hint)) ||
            (c.junction === null && c.target === hint),
        );
  if (matching.length === 0) {
    throw new RestError(
      400,
      "PGRST200",
      `Could not find a relationship between '${from.name}' and '${name}' in the schema cache`,
      `Searched for a foreign key relationship between '${from.name}' and '${name}'${hint ? ` using the hint '${hint}'` : ""}`,
      "Embedding needs a foreign key between the two tables, or a junction table whose primary key holds a foreign key to each.",
    );
  }
  if (matching.length > 1) {
    throw new RestError(
      300,
      "PGRST201",
      `Could not embed because more than one relationship was found for '${from.name}' and '${name}'`,
      matching.map((c) => c.name).join(", "),
      `Try changing '${name}' to one of: ${matching.map((c) => `${name}!${c.name}`).join(", ")}`,
    );
  }
  const m = matching[0] as Candidate;
  const composite = m.fks.find((fk) => fk.columns.length !== 1);
  if (composite) throw new RestError(400, "PGRST200", `Embedding over the composite foreign key ${composite.name} is not supported`);
  return { ...m, target: tableOf(model, m.target) };
}

interface Columns {
  list: string[];
  shape: Shape;
}

/**
 * The select list of one resource, with hidden join columns appended where embeds need them;
 * `path` names the resource's options ("" root, "rel" …).
 */
function selectList(
  model: SchemaModel,
  t: TableModel,
  items: SelectItem[],
  query: ParsedQuery,
  path: string,
  /** `"table".` where the statement joins another table (a many-to-many embed's junction). */
  prefix = "",
): Columns {
  const list: string[] = [];
  const outputs: Output[] = [];
  const embeds: EmbedPlan[] = [];
  const indexOf = new Map<string, number>();
  const add = (col: string, alias: string | null): number => {
    const text = alias && alias !== col ? `${prefix}${q(col)} AS ${q(alias)}` : `${prefix}${q(col)}`;
    list.push(text);
    return list.length - 1;
  };
  const embedItems: Extract<SelectItem, { kind: "embed" }>[] = [];
  for (const it of items) {
    if (it.kind === "star") {
      for (const c of t.columns) {
        const i = add(c.name, null);
        indexOf.set(c.name, i);
        outputs.push({ kind: "col", key: c.name, index: i });
      }
    } else if (it.kind === "column") {
      if (it.path.length === 0 && it.cast === null) {
        columnOf(t, it.name);
        const i = add(it.name, it.alias);
        if (!it.alias) indexOf.set(it.name, i);
        outputs.push({ kind: "col", key: it.alias ?? it.name, index: i });
        continue;
      }
      // PostgREST names a JSON path by its last key, a cast column by the column.
      let text = columnExpr(t, it.name, it.path, prefix);
      if (it.cast !== null) text = `CAST(${text} AS ${castType(it.cast)})`;
      list.push(text);
      outputs.push({ kind: "col", key: it.alias ?? it.path.at(-1)?.key ?? it.name, index: list.length - 1 });
    } else {
      embedItems.push(it);
      outputs.push({ kind: "embed", key: it.alias ?? it.relation, embed: -1 });
    }
  }
  for (const it of embedItems) {
    const rel = relationship(model, t, it.relation, it.hint);
    let parentIndex = indexOf.get(rel.parentCol);
    if (parentIndex === undefined) {
      list.push(`${prefix}${q(rel.parentCol)}`);
      parentIndex = list.length - 1;
      indexOf.set(rel.parentCol, parentIndex);
    }
    const key = it.alias ?? it.relation;
    const childPath = path === "" ? key : `${path}.${key}`;
    const opts = query.resources.get(childPath) ?? { filters: [], order: [], limit: null, offset: null };
    // Many-to-many joins the junction: the target's columns are qualified, the key is the junction's.
    const target = q(rel.target.name);
    const own = rel.junction ? `${target}.` : "";
    const child = selectList(model, rel.target, it.select, query, childPath, own);
    const childKey = rel.junction ? `${q(JUNCTION)}.${q(rel.childCol)}` : q(rel.childCol);
    child.list.push(childKey);
    const childIndex = child.list.length - 1;
    const sql = new Sql(2);
    const where = whereClause(rel.target, opts.filters, sql, own);
    const from = rel.junction
      ? `${target} JOIN ${q(rel.junction.table)} AS ${q(JUNCTION)} ON ${q(JUNCTION)}.${q(rel.junction.toTarget)} = ${target}.${q(rel.junction.targetCol)}`
      : target;
    const text = `SELECT ${child.list.join(", ")} FROM ${from} WHERE ${childKey} = ANY($1)${where ? ` AND ${where}` : ""}${orderClause(rel.target, opts.order, own)}`;
    embeds.push({
      key,
      many: rel.many,
      inner: it.inner,
      parentIndex,
      sql: text,
      params: sql.params,
      childIndex,
      shape: child.shape,
      limit: opts.limit,
      offset: opts.offset,
    });
    const out = outputs.find((o) => o.kind === "embed" && o.key === key && o.embed === -1) as Extract<
      Output,
      { kind: "embed" }
    >;
    out.embed = embeds.length - 1;
  }
  return { list, shape: { outputs, embeds } };
}

/** `!inner` embeds filter the parents: an EXISTS on the child with its filters. */
function innerConditions(
  model: SchemaModel,
  t: TableModel,
  items: SelectItem[],
  query: ParsedQuery,
  path: string,
  sql: Sql,
): string[] {
  const out: string[] = [];
  for (const it of items) {
    if (it.kind !== "embed" || !it.inner) continue;
    const rel = relationship(model, t, it.relation, it.hint);
    const key = it.alias ?? it.relation;
    const childPath = path === "" ? key : `${path}.${key}`;
    const opts = query.resources.get(childPath);
    const alias = `cave_inner_${out.length}`;
    const where = opts ? whereClause(rel.target, opts.filters, sql, `${q(alias)}.`) : "";
    const parent = `${q(t.name)}.${q(rel.parentCol)}`;
    const source = rel.junction
      ? `${q(rel.target.name)} AS ${q(alias)} JOIN ${q(rel.junction.table)} AS ${q(`${alias}_j`)} ON ${q(`${alias}_j`)}.${q(rel.junction.toTarget)} = ${q(alias)}.${q(rel.junction.targetCol)} WHERE ${q(`${alias}_j`)}.${q(rel.childCol)} = ${parent}`
      : `${q(rel.target.name)} AS ${q(alias)} WHERE ${q(alias)}.${q(rel.childCol)} = ${parent}`;
    out.push(`EXISTS (SELECT 1 FROM ${source}${where ? ` AND ${where}` : ""})`);
  }
  return out;
}

function checkPaths(query: ParsedQuery, items: SelectItem[]): void {
  const known = new Set<string>([""]);
  const walk = (list: SelectItem[], path: string) => {
    for (const it of list) {
      if (it.kind !== "embed") continue;
      const p = path === "" ? (it.alias ?? it.relation) : `${path}.${it.alias ?? it.relation}`;
      known.add(p);
      walk(it.select, p);
    }
  };
  walk(items, "");
  for (const path of query.resources.keys()) {
    if (!known.has(path)) {
      throw badRequest(
        `"${path}" is not an embedded resource of this request`,
        `filters, order or limit on "${path}"`,
        `embed it in select= first, e.g. select=*,${path}(*)`,
      );
    }
  }
}

/**
 * Where a read takes its rows from: a table or view by name, or (the rpc of a function that
 * returns rows) `fn(arg => $1, …) AS alias` with its arguments bound first.
 */
export interface ReadSource {
  table: TableModel;
  /** The FROM item's text; binds what it needs. */
  from: (bind: (value: unknown) => string) => string;
}

export function planRead(
  model: SchemaModel,
  table: string | ReadSource,
  query: ParsedQuery,
  range: { offset: number; limit: number | null } | null,
  /** db.max_rows: a cap on the rows, whatever limit or Range asks for (PostgREST's db-max-rows). */
  maxRows: number | null = null,
): ReadPlan {
  const t = typeof table === "string" ? tableOf(model, table) : table.table;
  checkPaths(query, query.select);
  const root: ResourceOptions = query.resources.get("") ?? { filters: [], order: [], limit: null, offset: null };
  const cols = selectList(model, t, query.select, query, "");
  const sql = new Sql();
  const from = typeof table === "string" ? q(t.name) : table.from((v) => sql.bind(v));
  const where = [whereClause(t, root.filters, sql), ...innerConditions(model, t, query.select, query, "", sql)].filter(
    (w) => w !== "",
  );
  const whereText = where.length ? ` WHERE ${where.join(" AND ")}` : "";
  const countParams = [...sql.params];
  let limit = root.limit;
  let offset = root.offset ?? 0;
  if (range) {
    offset = root.offset ?? range.offset;
    if (range.limit !== null) limit = limit === null ? range.limit : Math.min(limit, range.limit);
  }
  if (maxRows !== null) limit = limit === null ? maxRows : Math.min(limit, maxRows);
  let text = `SELECT ${cols.list.join(", ")} FROM ${from}${whereText}${orderClause(t, root.order)}`;
  if (limit !== null) text += ` LIMIT ${sql.bind(limit)}`;
  if (offset > 0) text += `${limit === null ? " LIMIT -1" : ""} OFFSET ${sql.bind(offset)}`;
  return {
    sql: text,
    params: sql.params,
    shape: cols.shape,
    countSql: `SELECT count(*) FROM ${from}${whereText}`,
    countParams,
    offset,
  };
}

export interface WritePlan {
  sql: string;
  params: unknown[];
  /** The RETURNING columns' shape; null for return=minimal without count. */
  shape: Shape | null;
}

function returning(
  model: SchemaModel,
  t: TableModel,
  query: ParsedQuery,
  wantRows: boolean,
): { text: string; shape: Shape | null } {
  if (!wantRows) return { text: "", shape: null };
  const cols = selectList(model, t, query.select, query, "");
  return { text: ` RETURNING ${cols.list.join(", ")}`, shape: cols.shape };
}

function jsonValue(v: unknown): unknown {
  return v !== null && typeof v === "object" ? JSON.stringify(v) : v;
}

/** POST: one object or an array of them, optionally an upsert. */
export function planInsert(
  model: SchemaModel,
  table: string,
  query: ParsedQuery,
  prefer: Prefer,
  body: unknown,
  wantRows: boolean,
): WritePlan {
  const t = tableOf(model, table);
  const rows = Array.isArray(body) ? body : [body];
  if (rows.some((r) => r === null || typeof r !== "object" || Array.isArray(r))) {
    throw new RestError(
      400,
      "PGRST102",
      "Empty or invalid json",
      "the body must be a JSON object or an array of objects",
    );
  }
  const objects = rows as Record<string, unknown>[];
  let columns = query.columns;
  if (!columns) {
    const first = Object.keys(objects[0] ?? {});
    for (const o of objects) {
      const keys = Object.keys(o);
      if (keys.length !== first.length || keys.some((k) => !first.includes(k)))
        throw new RestError(400, "PGRST102", "All object keys must match");
    }
    columns = first;
  }
  for (const c of columns) {
    if (!t.byName.has(c))
      throw new RestError(400, "PGRST204", `Could not find the '${c}' column of '${table}' in the schema cache`);
  }
  const sql = new Sql();
  let text: string;
  // An empty array inserts nothing: no statement (sql ""), no rows.
  if (objects.length === 0) return { sql: "", params: [], shape: returning(model, t, query, wantRows).shape };
  if (columns.length === 0) text = `INSERT INTO ${q(t.name)} DEFAULT VALUES`;
  else {
    const values = objects.map(
      (o) =>
        `(${columns
          .map((c) => {
            if (!(c in o)) return prefer.missing === "default" || !query.columns ? "DEFAULT" : "NULL";
            return sql.bind(jsonValue(o[c]));
          })
          .join(", ")})`,
    );
    text = `INSERT INTO ${q(t.name)} (${columns.map(q).join(", ")}) VALUES ${values.join(", ")}`;
  }
  if (prefer.resolution) {
    const target = query.onConflict ?? t.primaryKey;
    if (target.length === 0)
      throw badRequest(`upsert on ${table} needs on_conflict= (the table has no primary key)`, "on_conflict");
    for (const c of target) columnOf(t, c);
    const updates = columns.filter((c) => !target.includes(c));
    const action =
      prefer.resolution === "ignore-duplicates" || updates.length === 0
        ? "DO NOTHING"
        : `DO UPDATE SET ${updates.map((c) => `${q(c)} = EXCLUDED.${q(c)}`).join(", ")}`;
    text += ` ON CONFLICT (${target.map(q).join(", ")}) ${action}`;
  }
  const ret = returning(model, t, query, wantRows);
  return { sql: text + ret.text, params: sql.params, shape: ret.shape };
}

export function planUpdate(
  model: SchemaModel,
  table: string,
  query: ParsedQuery,
  body: unknown,
  wantRows: boolean,
): WritePlan {
  const t = tableOf(model, table);
  if (body === null || typeof body !== "object" || Array.isArray(body))
    throw new RestError(400, "PGRST102", "Empty or invalid json", "PATCH takes one JSON object");
  const entries = Object.entries(body as Record<string, unknown>);
  for (const [c] of entries)
    if (!t.byName.has(c))
      throw new RestError(400, "PGRST204", `Could not find the '${c}' column of '${table}' in the schema cache`);
  const root = query.resources.get("") ?? { filters: [], order: [], limit: null, offset: null };
  const sql = new Sql();
  const ret = returning(model, t, query, wantRows);
  if (entries.length === 0) {
    // PostgREST answers an empty PATCH with the rows it would touch, changing nothing.
    const where = whereClause(t, root.filters, sql);
    const cols = ret.shape ? ret.text.replace(" RETURNING ", "") : "1";
    return {
      sql: `SELECT ${cols} FROM ${q(t.name)}${where ? ` WHERE ${where}` : ""} LIMIT 0`,
      params: sql.params,
      shape: ret.shape,
    };
  }
  const sets = entries.map(([c, v]) => `${q(c)} = ${sql.bind(jsonValue(v))}`).join(", ");
  const where = whereClause(t, root.filters, sql);
  return {
    sql: `UPDATE ${q(t.name)} SET ${sets}${where ? ` WHERE ${where}` : ""}${ret.text}`,
    params: sql.params,
    shape: ret.shape,
  };
}

export function planDelete(model: SchemaModel, table: string, query: ParsedQuery, wantRows: boolean): WritePlan {
  const t = tableOf(model, table);
  const root = query.resources.get("") ?? { filters: [], order: [], limit: null, offset: null };
  const sql = new Sql();
  const where = whereClause(t, root.filters, sql);
  const ret = returning(model, t, query, wantRows);
  return {
    sql: `DELETE FROM ${q(t.name)}${where ? ` WHERE ${where}` : ""}${ret.text}`,
    params: sql.params,
    shape: ret.shape,
  };
}
