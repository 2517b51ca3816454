// Plans INSERT / UPDATE / DELETE: the target table, target columns, values coerced to the
// columns' types (literals now, parameters at execution), ON CONFLICT and RETURNING.
import type { RelationInfo } from "../catalog/catalog.ts";
import { isReservedName } from "../catalog/catalog.ts";
import { DbError, featureNotSupported, SQLSTATE } from "../errors.ts";
import type { Ast } from "../parse/ast.ts";
import { firstLoc, tagOf } from "../parse/ast.ts";
import { coerceLiteral } from "./coerce.ts";
import type { PlanContext } from "./context.ts";
import { noteParamType, uniqueAlias } from "./context.ts";
import { ExprBinder, identName } from "./expr.ts";
import type { BExpr } from "./expr-types.ts";
import type { DeleteOp, FromOp, InsertOp, ProjectItem, QueryOp, UpdateOp } from "./ops/index.ts";
import { objectName, outputName, type QueryPlanner, relationName } from "./query.ts";
import {
  afterCheck,
  and,
  checkAccess,
  checkOptions,
  raiseUnless,
  readsAlias,
  rlsApplies,
  substitute,
  usingQual,
} from "./rls.ts";
import { Scope } from "./scope.ts";

export interface PlannedModify<T> {
  op: T;
  /** RETURNING columns; empty without RETURNING. */
  columns: { name: string; type: string }[];
}

function targetTable(ctx: PlanContext, name: Ast, node: Ast, verb: string): RelationInfo {
  const table = relationName(ctx, name, node);
  const position = ctx.positionOf(firstLoc(name));
  const info = isReservedName(table) ? undefined : ctx.catalog.relation(table);
  if (!info) throw new DbError(SQLSTATE.undefinedTable, `relation "${table}" does not exist`, { position });
  checkAccess(ctx, info, position);
  if (info.kind !== "table")
    throw new DbError(SQLSTATE.wrongObjectType, `cannot ${verb} view "${info.name}"`, {
      position,
      hint: "Views in cave are read-only.",
    });
  return info;
}

/** A value for a column of type `type`: literals converted now, parameters typed. */
function coerceTo(e: BExpr, type: string, position: number, ctx: PlanContext): BExpr {
  const value = coerceValue(e, type, position, ctx);
  // numeric(p,s) keeps s decimal places, rounding as Postgres does on the way in.
  const scale = /^numeric\(\d+,(\d+)\)$/.exec(type)?.[1];
  if (scale === undefined || value.k === "null") return value;
  return { k: "func", sql: `round($1, ${Number(scale)})`, args: [value], type };
}

function coerceValue(e: BExpr, type: string, position: number, ctx: PlanContext): BExpr {
  const base = type.replace(/\(.*$/, "");
  if (e.k === "param") {
    noteParamType(ctx, e.index, base);
    return { ...e, type: base };
  }
  if (e.k === "str" || e.k === "num" || e.k === "bool") {
    if ((base === "text" || base === "varchar" || base === "bpchar") && e.k !== "str") return e;
    return coerceLiteral(e, base, position, false) ?? e;
  }
  return e;
}

/**
 * A column's default as a value: one that calls auth.* is kept in cave's catalog and bound per
 * statement; any other is the SQL SQLite keeps in the table's definition (written by cave).
 */
function defaultValue(
  ctx: PlanContext,
  info: RelationInfo,
  col: { name: string; type: string; defaultSql?: string | null },
): BExpr {
  const ast = ctx.catalog.authDefault(info.name, col.name);
  if (ast === undefined) return { k: "func", sql: col.defaultSql ?? "NULL", args: [], type: col.type };
  const stored: PlanContext = { ...ctx, positionOf: () => 0 };
  const e = new ExprBinder(stored, new Scope(null), {
    noAggregates: "DEFAULT expressions",
    windows: false,
    subquery: () => {
      throw featureNotSupported("subqueries in DEFAULT expressions");
    },
  }).bind(ast);
  return coerceTo(e, col.type, 0, stored);
}

function isDefaultKeyword(e: Ast): boolean {
  return tagOf(e) === "Identifier" && !e.Identifier.quote_style && /^default$/i.test(e.Identifier.value);
}

function columnOf(info: RelationInfo, name: string, position: number) {
  const c =
    info.columns.find((x) => x.name === name) ?? info.columns.find((x) => x.name.toLowerCase() === name.toLowerCase());
  if (!c)
    throw new DbError(SQLSTATE.undefinedColumn, `column "${name}" of relation "${info.name}" does not exist`, {
      position,
    });
  return c;
}

function returning(planner: QueryPlanner, scope: Scope, items: Ast[] | null): ProjectItem[] {
  if (!items?.length) return [];
  const b = new ExprBinder(planner.ctx, scope, planner.place({ noAggregates: "RETURNING" }));
  const out: ProjectItem[] = [];
  for (const p of items) {
    const t = tagOf(p);
    const v = p[t];
    if (t === "UnnamedExpr") {
      const expr = b.bind(v);
      out.push({ expr, name: outputName(v, expr) });
    } else if (t === "ExprWithAlias") out.push({ expr: b.bind(v.expr), name: identName(v.alias) });
    else if (t === "Wildcard" || t === "QualifiedWildcard") {
      const e = scope.entries[0]!;
      for (const c of e.columns)
        out.push({ expr: { k: "col", qual: e.emitAlias, name: c.name, type: c.type }, name: c.name });
    } else throw featureNotSupported(`RETURNING item ${t}`, 0);
  }
  return out;
}

function assignments(
  b: ExprBinder,
  info: RelationInfo,
  list: Ast[],
  ctx: PlanContext,
): { column: string; expr: BExpr }[] {
  const out: { column: string; expr: BExpr }[] = [];
  for (const a of list) {
    const target = a.target;
    const tt = tagOf(target);
    if (tt !== "ColumnName") throw featureNotSupported("assigning to a tuple of columns", ctx.positionOf(firstLoc(a)));
    const parts = objectName(target.ColumnName);
    const position = ctx.positionOf(firstLoc(target));
    const col = columnOf(info, parts[parts.length - 1]!, position);
    if (out.some((x) => x.column === col.name))
      throw new DbError(SQLSTATE.syntaxError, `multiple assignments to same column "${col.name}"`, { position });
    const valuePos = ctx.positionOf(firstLoc(a.value));
    if (isDefaultKeyword(a.value)) {
      // The default as SQLite stores it in the table's definition (written by cave's emitter).
      out.push({ column: col.name, expr: defaultValue(b.ctx, info, col) });
      continue;
    }
    out.push({ column: col.name, expr: coerceTo(b.bind(a.value), col.type, valuePos, ctx) });
  }
  return out;
}

/** `outer` holds the CTEs of a WITH in front of the statement. */
export function planInsert(planner: QueryPlanner, ins: Ast, outer: Scope | null = null): PlannedModify<InsertOp> {
  const ctx = planner.ctx;
  const position = ctx.positionOf(firstLoc(ins));
  if (ins.replace_into || ins.ignore || ins.or || ins.overwrite || ins.partitioned || ins.after_columns?.length)
    throw featureNotSupported("this INSERT form", position);
  const tableNode = tagOf(ins.table) === "TableName" ? ins.table.TableName : ins.table;
  if (tagOf(ins.table) !== "TableName") throw featureNotSupported("INSERT INTO a table function", position);
  const info = targetTable(ctx, tableNode, ins, "insert into");
  const alias = ins.table_alias ? identName(ins.table_alias.alias ?? ins.table_alias) : info.name;
  const emitAlias = uniqueAlias(ctx, alias);
  const colNames: { name: string; type: string }[] = (ins.columns ?? []).length
    ? (ins.columns as Ast[]).map((c) => {
        const parts = objectName(Array.isArray(c) ? c : [c]);
        return columnOf(info, parts[parts.length - 1]!, ctx.positionOf(firstLoc(c)));
      })
    : [...info.columns];
  const seen = new Set<string>();
  for (const c of colNames) {
    if (seen.has(c.name))
      throw new DbError(SQLSTATE.duplicateColumn, `column "${c.name}" specified more than once`, { position });
    seen.add(c.name);
  }
  let source: InsertOp["source"] = null;
  if (ins.source) {
    const body = ins.source.body;
    const plain = !ins.source.with && !ins.source.order_by && !ins.source.limit_clause;
    if (plain && tagOf(body) === "Values") {
      const b = new ExprBinder(ctx, new Scope(outer), planner.place({ noAggregates: "VALUES" }));
      const rawRows = (body.Values.rows as Ast[]).map((r) => (r.content ?? r) as Ast[]);
      const isDefault = isDefaultKeyword;
      const width = rawRows[0]?.length ?? 0;
      if (rawRows.some((r) => r.length !== width))
        throw new DbError(SQLSTATE.syntaxError, "VALUES lists must all be the same length", { position });
      if (width > colNames.length)
        throw new DbError(SQLSTATE.syntaxError, "INSERT has more expressions than target columns", {
          position: ctx.positionOf(firstLoc(rawRows[0]![colNames.length])),
        });
      if (width < colNames.length && (ins.columns ?? []).length)
        throw new DbError(SQLSTATE.syntaxError, "INSERT has more target columns than expressions", { position });
      colNames.length = width;
      const defaults = (rawRows[0] ?? []).map(isDefault);
      const sameDefaults =
        rawRows.every((r) => r.every((e, i) => isDefault(e) === defaults[i])) &&
        (rawRows.length === 1 || defaults.some((d) => !d));
      const kept = sameDefaults ? colNames.filter((_, i) => !defaults[i]) : [...colNames];
      // DEFAULT in VALUES: SQLite has no such keyword. When every row has it in the same columns
      // those columns are left out; otherwise each DEFAULT is the column's default expression
      // as SQLite keeps it in the table's definition (written by cave's emitter).
      const rows = rawRows.map((exprs) =>
        exprs
          .filter((_, i) => !(sameDefaults && defaults[i]))
          .map((e, j) => {
            const c = kept[j]!;
            if (isDefault(e)) return defaultValue(ctx, info, info.columns.find((x) => x.name === c.name)!);
            return coerceTo(b.bind(e), c.type, ctx.positionOf(firstLoc(e)), ctx);
          }),
      );
      colNames.length = 0;
      colNames.push(...kept);
      source = kept.length ? { rows } : null;
    } else {
      const q = planner.query(ins.source, new Scope(outer));
      if (q.columns.length > colNames.length)
        throw new DbError(SQLSTATE.syntaxError, "INSERT has more expressions than target columns", { position });
      colNames.length = q.columns.length;
      source = { query: q.op };
    }
  }
  // Columns left out whose DEFAULT calls auth.*: SQLite's table has no default for them, so the
  // statement supplies it.
  const authDefaulted = info.columns.filter(
    (c) =>
      ctx.catalog.authDefault(info.name, c.name) !== undefined && !(source && colNames.some((x) => x.name === c.name)),
  );
  if (authDefaulted.length) {
    const values = authDefaulted.map((c) => defaultValue(ctx, info, c));
    if (!source) {
      source = { rows: [values] };
      colNames.length = 0;
    } else if ("rows" in source) for (const r of source.rows) r.push(...values.map((v) => structuredClone(v)));
    else {
      let q: QueryOp = source.query;
      while (q.op === "sort" || q.op === "limit") q = q.input;
      if (q.op !== "project" || q.distinct)
        throw featureNotSupported(
          "INSERT … SELECT DISTINCT or a set operation into a table with an auth.* default",
          position,
        );
      q.items.push(...values.map((v, i) => ({ expr: v, name: `_cave_default_${i + 1}` })));
    }
    colNames.push(...authDefaulted);
  }
  const scope = new Scope(outer);
  scope.add({ alias, emitAlias, columns: info.columns.map((c) => ({ name: c.name, type: c.type })) }, position);
  let onConflict: InsertOp["onConflict"] = null;
  const on = ins.on;
  if (on) {
    const t = tagOf(on);
    if (t !== "OnConflict") throw featureNotSupported("ON DUPLICATE KEY", position);
    const oc = on.OnConflict;
    let target: string[] = [];
    if (oc.conflict_target) {
      const ct = tagOf(oc.conflict_target);
      if (ct === "OnConstraint") {
        // The primary key is <table>_pkey; unique indexes go by their own names, and inline
        // UNIQUE constraints by Postgres's <table>_<columns>_key.
        const name = objectName(oc.conflict_target.OnConstraint).pop()!;
        const idx =
          ctx.catalog.index(name) ??
          [...ctx.catalog.indexes.values()].find(
            (i) =>
              i.table === info.name &&
              i.unique &&
              i.columns.length &&
              `${info.name}_${i.columns.join("_")}_key` === name,
          );
        if (name === `${info.name}_pkey` && info.primaryKey.length) target = [...info.primaryKey];
        else if (idx && idx.table === info.name && idx.unique && idx.columns.length) target = [...idx.columns];
        else
          throw new DbError(SQLSTATE.undefinedObject, `constraint "${name}" for table "${info.name}" does not exist`, {
            position,
          });
      } else if (ct !== "Columns") throw featureNotSupported("this ON CONFLICT target", position);
      else
        target = (oc.conflict_target.Columns as Ast[]).map(
          (c) => columnOf(info, identName(c), ctx.positionOf(c.span?.start)).name,
        );
    }
    const action = oc.action;
    if (action === "DoNothing") onConflict = { target, action: "nothing" };
    else if (tagOf(action) === "DoUpdate") {
      if (!target.length)
        throw new DbError(
          SQLSTATE.syntaxError,
          "ON CONFLICT DO UPDATE requires inference specification or constraint name",
          {
            position,
            hint: "For example, ON CONFLICT (column_name).",
          },
        );
      const excluded = new Scope(outer);
      excluded.add({ alias, emitAlias, columns: info.columns.map((c) => ({ name: c.name, type: c.type })) }, position);
      excluded.add(
        {
          alias: "excluded",
          emitAlias: "excluded",
          columns: info.columns.map((c) => ({ name: c.name, type: c.type })),
        },
        position,
      );
      const b = new ExprBinder(ctx, excluded, planner.place({ noAggregates: "ON CONFLICT DO UPDATE" }));
      const set = assignments(b, info, action.DoUpdate.assignments ?? [], ctx);
      const where = action.DoUpdate.selection ? b.bind(action.DoUpdate.selection) : null;
      onConflict = { target, action: { set, where } };
    } else throw featureNotSupported("this ON CONFLICT action", position);
    // SQLite has no upsert clause after DEFAULT VALUES (it would be a syntax error there).
    if (source === null)
      throw new DbError(SQLSTATE.featureNotSupported, "INSERT … DEFAULT VALUES with ON CONFLICT is not supported", {
        position,
        hint: "Name at least one column and its value (e.g. the key), or leave out ON CONFLICT.",
      });
  }
  const ret = returning(planner, scope, ins.returning);
  let check: BExpr | undefined;
  if (rlsApplies(ctx, info.name)) {
    const doUpdate = onConflict && onConflict.action !== "nothing" ? onConflict.action : null;
    // SELECT rights are needed (so SELECT policies are checked too) for RETURNING, a conflict
    // target, and an ON CONFLICT DO UPDATE that reads the existing row.
    const readsTarget =
      ret.length > 0 ||
      (onConflict !== null && onConflict.target.length > 0) ||
      (doUpdate !== null && readsAlias(emitAlias, doUpdate.set, doUpdate.where));
    const listed = (c: { name: string }) => colNames.some((x) => x.name === c.name);
    // A default the planner cannot compute (an identity's next value) is known only once inserted.
    const computable = info.columns.every(
      (c) => listed(c) || !c.hasDefault || c.defaultSql || ctx.catalog.authDefault(info.name, c.name),
    );
    const rowChecks = source !== null && "rows" in source && computable;
    // New rows meet the INSERT policies' WITH CHECK (and SELECT's, when it reads the table).
    // As Postgres does, they are checked as proposed, before constraints and conflicts: in the
    // VALUES row itself; a query's rows are checked as inserted, in a hidden RETURNING column.
    if (rowChecks) {
      const proposed = uniqueAlias(ctx, "_cave_new");
      const checks = [
        ...checkOptions(planner, info, "insert", proposed, "check"),
        ...(readsTarget ? checkOptions(planner, info, "select", proposed, "check") : []),
      ];
      for (const row of (source as { rows: BExpr[][] }).rows) {
        const values = new Map<string, BExpr>();
        for (const c of info.columns) {
          const i = colNames.findIndex((x) => x.name === c.name);
          values.set(
            c.name,
            i >= 0 ? row[i]! : c.hasDefault ? defaultValue(ctx, info, c) : { k: "null", type: c.type },
          );
        }
        const bound = checks.map((k) => ({ ...k, expr: substitute(k.expr, proposed, values) }));
        row[0] = afterCheck(raiseUnless(ctx, bound), row[0]!);
      }
    } else {
      check = raiseUnless(ctx, [
        ...checkOptions(planner, info, "insert", info.name, "check"),
        ...(readsTarget ? checkOptions(planner, info, "select", info.name, "check") : []),
      ]);
    }
    if (doUpdate?.set.length) {
      // The conflicting row must be one the UPDATE policies let this role update (else an
      // error, not a skipped row), and the updated row must meet their WITH CHECK.
      const conflict = [
        ...checkOptions(planner, info, "update", emitAlias, "conflict"),
        ...(readsTarget ? checkOptions(planner, info, "select", emitAlias, "conflict") : []),
      ];
      const updated = new Map(doUpdate.set.map((a) => [a.column, a.expr]));
      const after = [
        ...checkOptions(planner, info, "update", emitAlias, "check"),
        ...(readsTarget ? checkOptions(planner, info, "select", emitAlias, "check") : []),
      ].map((k) => ({ ...k, expr: substitute(k.expr, emitAlias, updated) }));
      doUpdate.set[0] = {
        column: doUpdate.set[0]!.column,
        expr: afterCheck(raiseUnless(ctx, [...conflict, ...after]), doUpdate.set[0]!.expr),
      };
    }
  }
  return {
    op: {
      op: "insert",
      table: info.name,
      columns: source ? colNames.map((c) => c.name) : [],
      source,
      onConflict,
      returning: ret,
      alias: emitAlias,
      ...(check ? { check } : {}),
    },
    columns: ret.map((r) => ({ name: r.name, type: r.expr.type })),
  };
}

export function planUpdate(planner: QueryPlanner, upd: Ast, outer: Scope | null = null): PlannedModify<UpdateOp> {
  const ctx = planner.ctx;
  const position = ctx.positionOf(firstLoc(upd));
  const rel = upd.table?.relation;
  if (tagOf(rel) !== "Table" || (upd.table.joins ?? []).length) throw featureNotSupported("UPDATE of a join", position);
  if (upd.or || upd.limit) throw featureNotSupported("this UPDATE form", position);
  const info = targetTable(ctx, rel.Table.name, rel, "update");
  const alias = rel.Table.alias ? identName(rel.Table.alias.name) : info.name;
  const emitAlias = uniqueAlias(ctx, alias);
  const scope = new Scope(outer);
  scope.add({ alias, emitAlias, columns: info.columns.map((c) => ({ name: c.name, type: c.type })) }, position);
  let from: FromOp | null = null;
  if (upd.from) {
    const items = (upd.from.AfterSet ?? upd.from.BeforeSet ?? []) as Ast[];
    from = planner.from(items, scope);
  }
  const b = new ExprBinder(ctx, scope, planner.place({ noAggregates: "UPDATE" }));
  const set = assignments(b, info, upd.assignments ?? [], ctx);
  const where = upd.selection
    ? new ExprBinder(ctx, scope, planner.place({ noAggregates: "WHERE" })).bind(upd.selection)
    : null;
  const retScope = new Scope(outer);
  retScope.add(scope.entries[0]!, position);
  const ret = returning(planner, retScope, upd.returning);
  let filtered = where;
  if (rlsApplies(ctx, info.name)) {
    // Rows the UPDATE policies let it target (and, when it reads the table, SELECT's too).
    const reads = ret.length > 0 || readsAlias(emitAlias, where, set, from);
    filtered = and(where, usingQual(planner, info, reads ? ["select", "update"] : ["update"], emitAlias));
    // As Postgres does, the new row meets WITH CHECK before constraints are checked: in the
    // first assignment, over the new values (each column's SET expression or current value).
    const updated = new Map(set.map((a) => [a.column, a.expr]));
    const checks = [
      ...checkOptions(planner, info, "update", emitAlias, "check"),
      ...(reads ? checkOptions(planner, info, "select", emitAlias, "check") : []),
    ].map((k) => ({ ...k, expr: substitute(k.expr, emitAlias, updated) }));
    if (set.length) set[0] = { column: set[0]!.column, expr: afterCheck(raiseUnless(ctx, checks), set[0]!.expr) };
  }
  return {
    op: {
      op: "update",
      table: info.name,
      alias: emitAlias,
      set,
      from,
      where: filtered,
      returning: ret,
    },
    columns: ret.map((r) => ({ name: r.name, type: r.expr.type })),
  };
}

export function planDelete(planner: QueryPlanner, del: Ast, outer: Scope | null = null): PlannedModify<DeleteOp> {
  const ctx = planner.ctx;
  const position = ctx.positionOf(firstLoc(del));
  const fromList = (del.from?.WithFromKeyword ?? del.from?.WithoutKeyword ?? []) as Ast[];
  if ((del.tables ?? []).length || del.limit || (del.order_by ?? []).length || fromList.length !== 1)
    throw featureNotSupported("this DELETE form (LIMIT, ORDER BY, several tables)", position);
  const twj = fromList[0]!;
  if (tagOf(twj.relation) !== "Table" || (twj.joins ?? []).length)
    throw featureNotSupported("DELETE from a join", position);
  const t = twj.relation.Table;
  const info = targetTable(ctx, t.name, twj.relation, "delete from");
  const alias = t.alias ? identName(t.alias.name) : info.name;
  const emitAlias = uniqueAlias(ctx, alias);
  const scope = new Scope(outer);
  scope.add({ alias, emitAlias, columns: info.columns.map((c) => ({ name: c.name, type: c.type })) }, position);
  const using = (del.using ?? []).length ? planner.from(del.using as Ast[], scope) : null;
  const where = del.selection
    ? new ExprBinder(ctx, scope, planner.place({ noAggregates: "WHERE" })).bind(del.selection)
    : null;
  const retScope = new Scope(outer);
  retScope.add(scope.entries[0]!, position);
  const ret = returning(planner, using ? retScope : scope, del.returning);
  const reads = ret.length > 0 || readsAlias(emitAlias, where, using);
  const filtered = and(where, usingQual(planner, info, reads ? ["select", "delete"] : ["delete"], emitAlias));
  return {
    op: { op: "delete", table: info.name, alias: emitAlias, using, where: filtered, returning: ret },
    columns: ret.map((r) => ({ name: r.name, type: r.expr.type })),
  };
}
