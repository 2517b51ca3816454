// Plans queries: FROM (tables, views, CTEs, derived tables, joins), WHERE, GROUP BY/HAVING,
// the select list (with * expanded from the catalog), DISTINCT, windows, set operations,
// WITH [RECURSIVE], ORDER BY, LIMIT/OFFSET — into a tree of plan operators.
import { isReservedName } from "../catalog/catalog.ts";
import { DbError, featureNotSupported, SQLSTATE } from "../errors.ts";
import type { Ast } from "../parse/ast.ts";
import { firstLoc, tagOf } from "../parse/ast.ts";
import { typeDisplayName } from "./coerce.ts";
import type { PlanContext } from "./context.ts";
import { uniqueAlias } from "./context.ts";
import { ExprBinder, type ExprPlace, hasAggregate, identName } from "./expr.ts";
import type { BExpr, SortKey, WindowSpec } from "./expr-types.ts";
import type { CteDef, FromOp, ProjectItem, ProjectOp, QueryOp, RelOp } from "./ops/index.ts";
import { checkAccess, INSUFFICIENT_PRIVILEGE, inlineViews, usingQual } from "./rls.ts";
import { scalarCall, tableCall } from "./routines.ts";
import { Scope, type ScopeColumn } from "./scope.ts";

export interface PlannedQuery {
  op: QueryOp;
  columns: ScopeColumn[];
}

export function objectName(name: Ast): string[] {
  return (name as Ast[]).map((p) => identName(p?.Identifier ?? p));
}

/** The relation name from a possibly schema-qualified name (public.t, main.t → t). */
export function relationName(ctx: PlanContext, name: Ast, node: Ast): string {
  const parts = objectName(name);
  if (parts.length === 2 && (parts[0] === "public" || parts[0] === "main" || parts[0] === "pg_temp")) return parts[1]!;
  if (parts.length !== 1)
    throw new DbError(SQLSTATE.undefinedTable, `relation "${parts.join(".")}" does not exist`, {
      position: ctx.positionOf(firstLoc(node)),
    });
  return parts[0]!;
}

export class QueryPlanner {
  constructor(readonly ctx: PlanContext) {}

  /**
   * A planner for SQL stored in the catalog (policy expressions, view definitions): same
   * statement state, but positions in it mean nothing in the statement being planned.
   */
  forStoredSql(): QueryPlanner {
    const { fnArgs: _args, ...ctx } = this.ctx;
    return new QueryPlanner({ ...ctx, positionOf: () => 0 });
  }

  /**
   * A stored relation as a FROM item under `alias`: a table with row-level security is read
   * through its USING quals; a view is expanded from its definition where policies may apply
   * beneath it, so they are the caller's (security invoker).
   */
  private stored(
    table: string,
    alias: string,
    source: "table" | "view" | "cte",
    columns: ScopeColumn[],
    position: number,
  ): FromOp {
    const info = source === "cte" ? undefined : this.ctx.catalog.relation(table);
    if (info?.kind === "table") {
      const inner = uniqueAlias(this.ctx, table);
      const cond = usingQual(this, info, ["select"], inner);
      if (cond) return { op: "scan", table, alias, source, columns, rls: { alias: inner, cond } };
    } else if (info?.kind === "view" && inlineViews(this.ctx)) {
      const ast = this.ctx.catalog.viewQuery(info.name);
      if (ast) {
        const sub = this.forStoredSql().query(ast, new Scope(null));
        const query = sub.columns.every((c, i) => c.name === columns[i]?.name) ? sub.op : this.rename(sub, columns);
        return { op: "derived", alias, query, columns, lateral: false };
      }
      if (this.ctx.rls.role !== null)
        throw new DbError(INSUFFICIENT_PRIVILEGE, `permission denied for view ${info.name}`, {
          position,
          hint: "The view was created before row-level security and cannot be read with the caller's policies: create it again (CREATE OR REPLACE VIEW).",
        });
    }
    return { op: "scan", table, alias, source, columns };
  }

  place(extra: Partial<ExprPlace> = {}): ExprPlace {
    return {
      noAggregates: null,
      windows: false,
      subquery: (q, scope) => this.query(q, new Scope(scope)),
      call: (info, args, node, binder) => scalarCall(this, info, args, node, binder),
      ...extra,
    };
  }

  /** A full query (WITH, body, ORDER BY, LIMIT) in a fresh scope under `scope`. */
  query(q: Ast, scope: Scope): PlannedQuery {
    if (tagOf(q) === "Query") q = q.Query;
    // FOR UPDATE / FOR SHARE are accepted without row locks: transactions are serializable, so
    // if another connection changes what this one read, this one's first write fails with
    // 40001 instead of Postgres's wait (docs/compatibility.md).
    if (
      (q.fetch && (q.fetch.percent || q.fetch.with_ties)) ||
      (q.pipe_operators ?? []).length ||
      q.for_clause ||
      q.settings
    )
      throw featureNotSupported("this query clause", this.ctx.positionOf(firstLoc(q)));
    const withClause = q.with ? this.planWith(q.with, scope) : null;
    const orderBy = (q.order_by?.kind?.Expressions ?? null) as Ast[] | null;
    if (q.order_by && !orderBy) throw featureNotSupported("ORDER BY ALL", this.ctx.positionOf(firstLoc(q.order_by)));
    let planned: PlannedQuery;
    const body = q.body;
    if (tagOf(body) === "Select") {
      planned = this.select(body.Select, scope, orderBy);
    } else {
      planned = this.setExpr(body, scope);
      if (orderBy?.length) {
        const keys = orderBy.map((k) => this.outputSortKey(k, planned.columns, null));
        planned = { op: { op: "sort", input: planned.op, keys }, columns: planned.columns };
      }
    }
    const limit = q.limit_clause ?? (q.fetch ? { LimitOffset: {} } : null);
    if (limit) {
      const b = new ExprBinder(this.ctx, new Scope(scope), this.place());
      let lim: BExpr | null = null;
      let off: BExpr | null = null;
      const t = tagOf(limit);
      if (t === "LimitOffset") {
        if ((limit.LimitOffset.limit_by ?? []).length) throw featureNotSupported("LIMIT BY", 0);
        lim = limit.LimitOffset.limit ? b.bindTyped(limit.LimitOffset.limit, "int8") : null;
        off = limit.LimitOffset.offset ? b.bindTyped(limit.LimitOffset.offset.value, "int8") : null;
      } else if (t === "OffsetCommaLimit") {
        lim = b.bindTyped(limit.OffsetCommaLimit.limit, "int8");
        off = b.bindTyped(limit.OffsetCommaLimit.offset, "int8");
      }
      if (q.fetch?.quantity) lim = b.bindTyped(q.fetch.quantity, "int8");
      if (lim || off)
        planned = { op: { op: "limit", input: planned.op, limit: lim, offset: off }, columns: planned.columns };
    }
    if (withClause) {
      planned = {
        op: {
          op: "with",
          recursive: withClause.recursive,
          ctes: withClause.ctes,
          input: planned.op,
          columns: planned.columns,
        },
        columns: planned.columns,
      };
    }
    return planned;
  }

  /** WITH [RECURSIVE] …: plans each CTE and makes it visible in `scope`. */
  planWith(w: Ast, scope: Scope): { recursive: boolean; ctes: CteDef[] } {
    const recursive = !!w.recursive;
    const ctes: CteDef[] = [];
    for (const c of w.cte_tables as Ast[]) {
      const name = identName(c.alias.name);
      const colNames: string[] | null = c.alias.columns?.length
        ? (c.alias.columns as Ast[]).map((x) => identName(x.name ?? x))
        : null;
      // MATERIALIZED / NOT MATERIALIZED hints are accepted and ignored: SQLite decides.
      let planned: PlannedQuery;
      if (recursive && this.refersTo(c.query, name)) {
        const body = c.query.body;
        if (tagOf(body) !== "SetOperation")
          throw new DbError(
            SQLSTATE.invalidRecursion,
            `recursive query "${name}" does not have the form non-recursive-term UNION [ALL] recursive-term`,
            {
              position: this.ctx.positionOf(firstLoc(c.query)),
            },
          );
        const seed = this.setExpr(body.SetOperation.left, scope);
        const cols = seed.columns.map((col, i) => ({ name: colNames?.[i] ?? col.name, type: col.type }));
        scope.ctes.set(name, { name, columns: cols });
        planned = this.query(c.query, new Scope(scope));
      } else {
        planned = this.query(c.query, new Scope(scope));
      }
      if (colNames && colNames.length > planned.columns.length)
        throw new DbError(
          SQLSTATE.invalidColumnReference,
          `WITH query "${name}" has ${planned.columns.length} columns available but ${colNames.length} columns specified`,
          {
            position: this.ctx.positionOf(firstLoc(c)),
          },
        );
      const cols = planned.columns.map((col, i) => ({ name: colNames?.[i] ?? col.name, type: col.type }));
      scope.ctes.set(name, { name, columns: cols });
      ctes.push({ name, columns: colNames ?? cols.map((x) => x.name), query: planned.op });
    }
    return { recursive, ctes };
  }

  private refersTo(node: Ast, name: string): boolean {
    if (!node || typeof node !== "object") return false;
    if (Array.isArray(node)) return node.some((n) => this.refersTo(n, name));
    if (node.Table?.name) {
      const parts = objectName(node.Table.name);
      if (parts[parts.length - 1] === name) return true;
    }
    return Object.values(node).some((v) => this.refersTo(v, name));
  }

  /** A query body: SELECT, set operation, VALUES or a parenthesized query. */
  setExpr(body: Ast, scope: Scope): PlannedQuery {
    const tag = tagOf(body);
    const v = body[tag];
    switch (tag) {
      case "Select":
        return this.select(v, new Scope(scope), null);
      case "Query":
        return this.query(v, new Scope(scope));
      case "SetOperation": {
        const left = this.setExpr(v.left, scope);
        const right = this.setExpr(v.right, scope);
        const kind = String(v.op).toLowerCase() as "union" | "intersect" | "except";
        if (!["union", "intersect", "except"].includes(kind)) throw featureNotSupported(`set operation ${v.op}`, 0);
        if (left.columns.length !== right.columns.length)
          throw new DbError(
            SQLSTATE.syntaxError,
            `each ${kind.toUpperCase()} query must have the same number of columns`,
            {
              position: this.ctx.positionOf(firstLoc(v.right?.Select?.projection ?? v.right)),
            },
          );
        const q = String(v.set_quantifier ?? "None");
        if (q !== "None" && q !== "All" && q !== "Distinct") throw featureNotSupported(`${kind.toUpperCase()} ${q}`, 0);
        const columns = left.columns.map((c, i) => ({
          name: c.name,
          type: c.type !== "unknown" ? c.type : right.columns[i]!.type,
        }));
        return { op: { op: "setop", kind, all: q === "All", left: left.op, right: right.op, columns }, columns };
      }
      case "Values": {
        const rows = (v.rows as Ast[]).map((r) => {
          const b = new ExprBinder(this.ctx, scope, this.place());
          return ((r.content ?? r) as Ast[]).map((e) => b.bind(e));
        });
        const width = rows[0]?.length ?? 0;
        if (rows.some((r) => r.length !== width))
          throw new DbError(SQLSTATE.syntaxError, "VALUES lists must all be the same length", {
            position: this.ctx.positionOf(firstLoc(v)),
          });
        const columns = rows[0]!.map((_, i) => ({
          name: `column${i + 1}`,
          type: rows.map((r) => r[i]!.type).find((t) => t !== "unknown") ?? "unknown",
        }));
        return { op: { op: "values", rows, columns }, columns };
      }
      default:
        throw featureNotSupported(`query body ${tag}`, this.ctx.positionOf(firstLoc(body)));
    }
  }

  /** FROM items into a join tree, registering each relation in `scope`. */
  from(items: Ast[], scope: Scope): FromOp | null {
    let tree: FromOp | null = null;
    for (const twj of items) {
      let rel = this.relation(twj.relation, scope);
      for (const j of (twj.joins ?? []) as Ast[]) rel = this.join(rel, j, scope);
      tree = tree ? { op: "join", kind: "cross", left: tree, right: rel, on: null, using: null, natural: false } : rel;
    }
    return tree;
  }

  private join(left: FromOp, j: Ast, scope: Scope): FromOp {
    const opTag = tagOf(j.join_operator);
    const spec = j.join_operator[opTag];
    const kinds: Record<string, "inner" | "left" | "right" | "full" | "cross"> = {
      Join: "inner",
      Inner: "inner",
      Left: "left",
      LeftOuter: "left",
      Right: "right",
      RightOuter: "right",
      FullOuter: "full",
      CrossJoin: "cross",
    };
    const kind = kinds[opTag];
    if (!kind) throw featureNotSupported(`join type ${opTag}`, this.ctx.positionOf(firstLoc(j)));
    const leftEntries = [...scope.entries];
    const right = this.relation(j.relation, scope);
    const rightEntries = scope.entries.slice(leftEntries.length);
    const b = new ExprBinder(this.ctx, scope, this.place({ noAggregates: "JOIN conditions" }));
    let on: BExpr | null = null;
    let using: string[] | null = null;
    let natural = false;
    const cTag = tagOf(spec);
    if (cTag === "On") on = b.bind(spec.On);
    else if (cTag === "Using") using = (spec.Using as Ast[]).map((n) => objectName(n).pop()!);
    else if (cTag === "Natural") natural = true;
    else if (kind !== "cross" && cTag !== "None" && spec !== null && spec !== undefined)
      throw featureNotSupported(`join constraint ${cTag}`, 0);
    if (natural || using) {
      const leftCols = leftEntries.flatMap((e) => e.columns.map((c) => ({ e, c })));
      const rightCols = rightEntries.flatMap((e) => e.columns.map((c) => ({ e, c })));
      const names = using ?? leftCols.map((x) => x.c.name).filter((n) => rightCols.some((r) => r.c.name === n));
      for (const n of names) {
        const l = leftCols.find((x) => x.c.name === n);
        const r = rightCols.find((x) => x.c.name === n);
        if (!l || !r)
          throw new DbError(
            SQLSTATE.undefinedColumn,
            `column "${n}" specified in USING clause does not exist in ${l ? "right" : "left"} table`,
            {
              position: this.ctx.positionOf(firstLoc(j)),
            },
          );
        const lc: BExpr = { k: "col", qual: l.e.emitAlias, name: n, type: l.c.type };
        const rc: BExpr = { k: "col", qual: r.e.emitAlias, name: n, type: r.c.type };
        scope.merged.set(
          n,
          kind === "full"
            ? {
                k: "fn",
                name: "coalesce",
                args: [lc, rc],
                star: false,
                distinct: false,
                filter: null,
                over: null,
                orderBy: [],
                agg: false,
                type: l.c.type,
              }
            : kind === "right"
              ? rc
              : lc,
        );
      }
      if (natural && names.length === 0)
        return {
          op: "join",
          kind: kind === "inner" ? "cross" : kind,
          left,
          right,
          on: null,
          using: null,
          natural: false,
        };
      using = names;
      natural = false;
    }
    return { op: "join", kind, left, right, on, using, natural };
  }

  private relation(rel: Ast, scope: Scope): FromOp {
    const tag = tagOf(rel);
    const v = rel[tag];
    const position = this.ctx.positionOf(firstLoc(rel));
    const aliasNode = v?.alias;
    const colAliases: string[] = aliasNode?.columns?.length
      ? (aliasNode.columns as Ast[]).map((c) => identName(c.name ?? c))
      : [];
    switch (tag) {
      case "Table": {
        if (v.args) return this.tableFunction(v, scope, position, aliasNode, colAliases);
        const name = relationName(this.ctx, v.name, rel);
        const userAlias = aliasNode ? identName(aliasNode.name) : name;
        const cte = objectName(v.name).length === 1 ? scope.cte(name) : undefined;
        let columns: ScopeColumn[];
        let source: "table" | "view" | "cte";
        let stored = name;
        if (cte) {
          columns = cte.columns;
          source = "cte";
          stored = cte.name;
        } else {
          const info = isReservedName(name) ? undefined : this.ctx.catalog.relation(name);
          if (!info) throw new DbError(SQLSTATE.undefinedTable, `relation "${name}" does not exist`, { position });
          checkAccess(this.ctx, info, position);
          columns = info.columns.map((c) => ({ name: c.name, type: c.type }));
          source = info.kind;
          stored = info.name;
        }
        const emitAlias = uniqueAlias(this.ctx, userAlias);
        if (colAliases.length) {
          if (colAliases.length > columns.length)
            throw new DbError(
              SQLSTATE.invalidColumnReference,
              `table "${userAlias}" has ${columns.length} columns available but ${colAliases.length} columns specified`,
              { position },
            );
          const inner = uniqueAlias(this.ctx, stored);
          const renamed = columns.map((c, i) => ({ name: colAliases[i] ?? c.name, type: c.type }));
          const items: ProjectItem[] = columns.map((c, i) => ({
            expr: { k: "col", qual: inner, name: c.name, type: c.type },
            name: renamed[i]!.name,
          }));
          const query: ProjectOp = {
            op: "project",
            input: this.stored(stored, inner, source, columns, position),
            items,
            distinct: false,
            windows: [],
          };
          scope.add({ alias: userAlias, emitAlias, columns: renamed }, position);
          return { op: "derived", alias: emitAlias, query, columns: renamed, lateral: false };
        }
        const primaryKey = source === "table" ? this.ctx.catalog.relation(stored)?.primaryKey : undefined;
        scope.add({ alias: userAlias, emitAlias, columns, ...(primaryKey?.length ? { primaryKey } : {}) }, position);
        return this.stored(stored, emitAlias, source, columns, position);
      }
      case "Derived": {
        const lateral = !!v.lateral;
        const sub = this.query(v.subquery, new Scope(lateral ? scope : (scope.parent ?? new Scope(null))));
        const userAlias = aliasNode ? identName(aliasNode.name) : `subquery`;
        const columns = sub.columns.map((c, i) => ({ name: colAliases[i] ?? c.name, type: c.type }));
        const emitAlias = uniqueAlias(this.ctx, userAlias);
        let query = sub.op;
        if (colAliases.length) query = this.rename(sub, columns);
        scope.add({ alias: userAlias, emitAlias, columns }, position);
        return { op: "derived", alias: emitAlias, query, columns, lateral };
      }
      case "NestedJoin": {
        let inner = this.relation(v.table_with_joins.relation, scope);
        for (const j of (v.table_with_joins.joins ?? []) as Ast[]) inner = this.join(inner, j, scope);
        return inner;
      }
      default:
        throw featureNotSupported(`FROM item ${tag}`, position);
    }
  }

  /**
   * generate_series(start, stop [, step]) in FROM: SQLite's table-valued function of that name,
   * its `value` column renamed to Postgres's (the function's name, or the alias's column).
   */
  private tableFunction(v: Ast, scope: Scope, position: number, aliasNode: Ast, colAliases: string[]): FromOp {
    const parts = objectName(v.name);
    const name = parts[parts.length - 1] ?? "";
    const fn = name === "generate_series" ? undefined : this.ctx.catalog.function(name);
    if (fn && (parts.length === 1 || parts[0] === "public"))
      return tableCall(this, fn, (v.args?.args ?? []) as Ast[], scope, position, aliasNode, colAliases);
    if (name !== "generate_series" || parts.length > 2)
      throw featureNotSupported(`table function ${parts.join(".")}`, position);
    const b = new ExprBinder(this.ctx, scope, this.place({ noAggregates: "functions in FROM" }));
    const args = ((v.args?.args ?? []) as Ast[]).map((a) => {
      const expr = a?.Unnamed?.Expr;
      if (!expr) throw featureNotSupported("this argument form", position);
      return b.bindTyped(expr, "int8");
    });
    if (args.length < 2 || args.length > 3)
      throw new DbError(
        SQLSTATE.undefinedFunction,
        `function generate_series(${args.map((a) => typeDisplayName(a.type)).join(", ")}) does not exist`,
        {
          position,
        },
      );
    const type = args.some((a) => a.type === "numeric" || a.type === "float8")
      ? "numeric"
      : args.some((a) => a.type === "int8")
        ? "int8"
        : "int4";
    const userAlias = aliasNode ? identName(aliasNode.name) : name;
    const column = colAliases[0] ?? (aliasNode && !colAliases.length ? userAlias : name);
    const inner = uniqueAlias(this.ctx, name);
    const emitAlias = uniqueAlias(this.ctx, userAlias);
    const columns = [{ name: column, type }];
    const query: ProjectOp = {
      op: "project",
      input: {
        op: "scan",
        table: "generate_series",
        alias: inner,
        source: "function",
        columns: [{ name: "value", type }],
        args,
      },
      items: [{ expr: { k: "col", qual: inner, name: "value", type }, name: column }],
      distinct: false,
      windows: [],
    };
    scope.add({ alias: userAlias, emitAlias, columns }, position);
    return { op: "derived", alias: emitAlias, query, columns, lateral: false };
  }

  /** Wraps a planned query so its output columns carry new names. */
  rename(sub: PlannedQuery, columns: ScopeColumn[]): QueryOp {
    const alias = uniqueAlias(this.ctx, "renamed");
    return {
      op: "project",
      input: { op: "derived", alias, query: sub.op, columns: sub.columns, lateral: false },
      items: sub.columns.map((c, i) => ({
        expr: { k: "col", qual: alias, name: c.name, type: c.type },
        name: columns[i]!.name,
      })),
      distinct: false,
      windows: [],
    };
  }

  select(s: Ast, scope: Scope, orderBy: Ast[] | null): PlannedQuery {
    const position = this.ctx.positionOf(firstLoc(s));
    if (
      s.top ||
      s.into ||
      (s.lateral_views ?? []).length ||
      s.prewhere ||
      s.qualify ||
      (s.cluster_by ?? []).length ||
      (s.sort_by ?? []).length
    )
      throw featureNotSupported("this SELECT clause", position);
    let input: RelOp | null = this.from((s.from ?? []) as Ast[], scope);

    const namedWindows = new Map<string, WindowSpec>();
    const windowDefs: { name: string; spec: WindowSpec }[] = [];
    const base = new ExprBinder(this.ctx, scope, this.place());
    for (const nw of (s.named_window ?? []) as Ast[]) {
      const name = identName(nw[0]);
      const def = nw[1];
      const spec =
        tagOf(def) === "WindowSpec" ? base.windowSpec(def.WindowSpec) : namedWindows.get(identName(def.NamedWindow));
      if (!spec) throw new DbError(SQLSTATE.undefinedObject, `window "${name}" does not exist`, { position });
      namedWindows.set(name, spec);
      windowDefs.push({ name, spec });
    }

    if (s.selection) {
      const cond = new ExprBinder(this.ctx, scope, this.place({ noAggregates: "WHERE" })).bind(s.selection);
      // WHERE without FROM filters the one row of a relation with no columns.
      input = { op: "filter", input: input ?? { op: "values", rows: [[]], columns: [] }, cond };
    }

    const sel = new ExprBinder(this.ctx, scope, this.place({ windows: true, namedWindows }));
    const items: ProjectItem[] = [];
    for (const p of (s.projection ?? []) as Ast[]) {
      const t = tagOf(p);
      const v = p[t];
      if (t === "UnnamedExpr") {
        const expr = sel.bind(v);
        items.push({ expr, name: outputName(v, expr) });
      } else if (t === "ExprWithAlias") {
        items.push({ expr: sel.bind(v.expr), name: identName(v.alias) });
      } else if (t === "Wildcard") {
        if (!scope.entries.length)
          throw new DbError(SQLSTATE.syntaxError, "SELECT * with no tables specified is not valid", { position });
        const seen = new Set<string>();
        for (const e of scope.entries) {
          for (const c of e.columns) {
            const m = scope.merged.get(c.name);
            if (m) {
              if (seen.has(c.name)) continue;
              seen.add(c.name);
              items.push({ expr: m, name: c.name });
              continue;
            }
            items.push({ expr: { k: "col", qual: e.emitAlias, name: c.name, type: c.type }, name: c.name });
          }
        }
      } else if (t === "QualifiedWildcard") {
        const kind = tagOf(v[0]);
        const parts = kind === "ObjectName" ? objectName(v[0].ObjectName) : objectName(v[0]);
        const qualifier = parts[parts.length - 1]!;
        const e =
          scope.entries.find((x) => x.alias === qualifier) ??
          scope.entries.find((x) => x.alias.toLowerCase() === qualifier.toLowerCase());
        if (!e)
          throw new DbError(SQLSTATE.undefinedTable, `missing FROM-clause entry for table "${qualifier}"`, {
            position,
          });
        for (const c of e.columns)
          items.push({ expr: { k: "col", qual: e.emitAlias, name: c.name, type: c.type }, name: c.name });
      } else {
        throw featureNotSupported(`select item ${t}`, position);
      }
    }

    const gb = s.group_by;
    let groupBy: BExpr[] = [];
    if (gb && tagOf(gb) === "Expressions") {
      const [exprs, modifiers] = gb.Expressions as [Ast[] | null, Ast[] | null];
      if (modifiers?.length) throw featureNotSupported("GROUP BY modifiers", position);
      const gbinder = new ExprBinder(this.ctx, scope, this.place({ noAggregates: "GROUP BY" }));
      groupBy = (exprs ?? []).map((g) => {
        if (tagOf(g) === "Value" && tagOf(g.Value.value) === "Number") {
          const n = Number(g.Value.value.Number[0]);
          if (!Number.isInteger(n) || n < 1 || n > items.length)
            throw new DbError(
              SQLSTATE.invalidColumnReference,
              `GROUP BY position ${g.Value.value.Number[0]} is not in select list`,
              {
                position: this.ctx.positionOf(firstLoc(g)),
              },
            );
          return items[n - 1]!.expr;
        }
        try {
          return gbinder.bind(g);
        } catch (e) {
          if (tagOf(g) === "Identifier" && e instanceof DbError && e.sqlstate === SQLSTATE.undefinedColumn) {
            const item = items.find((i) => i.name === identName(g.Identifier));
            if (item) return item.expr;
          }
          throw e;
        }
      });
    } else if (gb && tagOf(gb) !== "") {
      throw featureNotSupported("GROUP BY ALL", position);
    }

    const having = s.having ? new ExprBinder(this.ctx, scope, this.place()).bind(s.having) : null;
    let sortKeys: SortKey[] | null = null;
    if (orderBy?.length) {
      const ob = new ExprBinder(this.ctx, scope, this.place({ windows: true, namedWindows }));
      sortKeys = orderBy.map((k) => this.outputSortKey(k, items, ob));
    }
    const aggregated =
      groupBy.length > 0 ||
      !!having ||
      items.some((i) => hasAggregate(i.expr)) ||
      (sortKeys ?? []).some((k) => hasAggregate(k.expr));
    if (aggregated) {
      checkGrouping(scope, groupBy, [
        ...items.map((i) => i.expr),
        ...(having ? [having] : []),
        ...(sortKeys ?? []).filter((k) => k.expr.k !== "num").map((k) => k.expr),
      ]);
      input = { op: "aggregate", input: input ?? { op: "values", rows: [[]], columns: [] }, groupBy };
      if (having) input = { op: "filter", input, cond: having };
    }

    const distinctTag = tagOf(s.distinct ?? null);
    if (distinctTag === "On") {
      const on = (s.distinct.On as Ast[]).map((e) => {
        if (tagOf(e) === "Value" && tagOf(e.Value.value) === "Number") {
          const n = Number(e.Value.value.Number[0]);
          const item = items[n - 1];
          if (!Number.isInteger(n) || !item)
            throw new DbError(
              SQLSTATE.invalidColumnReference,
              `SELECT DISTINCT ON position ${n} is not in select list`,
              {
                position: this.ctx.positionOf(firstLoc(e)),
              },
            );
          return item.expr;
        }
        return new ExprBinder(this.ctx, scope, this.place()).bind(e);
      });
      return this.distinctOn(input, items, windowDefs, on, sortKeys ?? []);
    }
    const project: ProjectOp = {
      op: "project",
      input,
      items,
      distinct: distinctTag === "Distinct",
      windows: windowDefs,
    };
    const columns = items.map((i) => ({ name: i.name, type: i.expr.type }));
    let op: QueryOp = project;
    if (sortKeys) op = { op: "sort", input: op, keys: sortKeys };
    return { op, columns };
  }

  /**
   * SELECT DISTINCT ON (keys): SQLite has no such clause, so the rows are numbered within each
   * key by the query's ORDER BY (row_number() OVER (PARTITION BY keys ORDER BY …)) and the
   * first of each is kept. Sort keys travel as hidden columns so the outer query can order by them.
   */
  private distinctOn(
    input: RelOp | null,
    items: ProjectItem[],
    windows: { name: string; spec: WindowSpec }[],
    on: BExpr[],
    sortKeys: SortKey[],
  ): PlannedQuery {
    const resolved = sortKeys.map((k) =>
      k.expr.k === "num" ? { ...k, expr: items[Number(k.expr.text) - 1]!.expr } : k,
    );
    const rn: BExpr = {
      k: "fn",
      name: "row_number",
      args: [],
      star: false,
      distinct: false,
      filter: null,
      over: { partitionBy: on, orderBy: resolved, frame: "", frameArgs: [] },
      orderBy: [],
      agg: false,
      type: "int8",
    };
    const innerItems: ProjectItem[] = [
      ...items.map((i, n) => ({ expr: i.expr, name: `_cave_c${n + 1}` })),
      ...resolved.map((k, n) => ({ expr: k.expr, name: `_cave_k${n + 1}` })),
      { expr: rn, name: "_cave_rn" },
    ];
    const alias = uniqueAlias(this.ctx, "_cave_distinct");
    const innerColumns = innerItems.map((i) => ({ name: i.name, type: i.expr.type }));
    const col = (name: string, type: string): BExpr => ({ k: "col", qual: alias, name, type });
    const outer: ProjectOp = {
      op: "project",
      input: {
        op: "filter",
        input: {
          op: "derived",
          alias,
          query: { op: "project", input, items: innerItems, distinct: false, windows },
          columns: innerColumns,
          lateral: false,
        },
        cond: { k: "bin", op: "=", l: col("_cave_rn", "int8"), r: { k: "num", text: "1", type: "int4" }, type: "bool" },
      },
      items: items.map((i, n) => ({ expr: col(`_cave_c${n + 1}`, i.expr.type), name: i.name })),
      distinct: false,
      windows: [],
    };
    const columns = items.map((i) => ({ name: i.name, type: i.expr.type }));
    if (!resolved.length) return { op: outer, columns };
    const keys = resolved.map((k, n) => ({ ...k, expr: col(`_cave_k${n + 1}`, k.expr.type) }));
    return { op: { op: "sort", input: outer, keys }, columns };
  }

  /**
   * An ORDER BY key: an output column position, an output column name, or (for a plain
   * SELECT) an expression over the input. Output references are emitted as positions.
   */
  outputSortKey(k: Ast, outputs: { name: string }[], binder: ExprBinder | null): SortKey {
    const o = k.options ?? {};
    const desc = o.asc === false;
    const nullsFirst = typeof o.nulls_first === "boolean" ? o.nulls_first : null;
    const e = k.expr;
    const position = this.ctx.positionOf(firstLoc(e));
    if (tagOf(e) === "Value" && tagOf(e.Value.value) === "Number") {
      const text = String(e.Value.value.Number[0]);
      const n = Number(text);
      if (!Number.isInteger(n) || n < 1 || n > outputs.length)
        throw new DbError(SQLSTATE.invalidColumnReference, `ORDER BY position ${text} is not in select list`, {
          position,
        });
      return { expr: { k: "num", text: String(n), type: "int4" }, desc, nullsFirst };
    }
    if (tagOf(e) === "Identifier") {
      const name = identName(e.Identifier);
      const idx = outputs.findIndex((c) => c.name === name);
      if (idx >= 0 && outputs.filter((c) => c.name === name).length === 1)
        return { expr: { k: "num", text: String(idx + 1), type: "int4" }, desc, nullsFirst };
    }
    if (!binder) {
      if (tagOf(e) === "Identifier")
        throw new DbError(SQLSTATE.undefinedColumn, `column "${identName(e.Identifier)}" does not exist`, { position });
      throw featureNotSupported("ORDER BY on an expression of a set operation's result", position);
    }
    return { expr: binder.bind(e), desc, nullsFirst };
  }
}

/** The column name Postgres gives an unaliased select-list expression. */
export function outputName(node: Ast, e: BExpr): string {
  const t = tagOf(node);
  const v = node[t];
  switch (t) {
    case "Identifier":
      return identName(v);
    case "CompoundIdentifier":
      return identName((v as Ast[])[(v as Ast[]).length - 1]);
    case "Nested":
      return outputName(v, e);
    case "Function": {
      const parts = (v.name as Ast[]).map((p) => identName(p?.Identifier ?? p));
      return parts[parts.length - 1] ?? "?column?";
    }
    case "Cast": {
      const inner = outputName(v.expr, e);
      return inner !== "?column?" ? inner : e.type.replace(/\(.*$/, "");
    }
    case "Case":
      return "case";
    case "Exists":
      return "exists";
    case "Value":
      return tagOf(v.value) === "Boolean" ? "bool" : "?column?";
    case "Substring":
      return "substring";
    case "Trim":
      return "btrim";
    case "Position":
      return "position";
    case "Extract":
      return "extract";
    case "Interval":
      return "interval";
    case "Ceil":
      return "ceil";
    case "Floor":
      return "floor";
    case "TypedString":
      return e.type.replace(/\(.*$/, "");
    default:
      return "?column?";
  }
}

function exprKey(e: BExpr): string {
  return JSON.stringify(e, (k, v) => (k === "pos" ? undefined : v));
}

/**
 * Postgres's rule for aggregated queries: a column outside an aggregate must be grouped, or
 * belong to a table whose primary key is grouped (42803). Columns of enclosing queries are
 * constants here and pass.
 */
function checkGrouping(scope: Scope, groupBy: BExpr[], exprs: BExpr[]): void {
  const keys = new Set(groupBy.map(exprKey));
  const grouped = new Set(
    groupBy.filter((g) => g.k === "col").map((g) => `${(g as { qual: string }).qual}.${(g as { name: string }).name}`),
  );
  const local = new Map(scope.entries.map((e) => [e.emitAlias, e]));
  const whole = new Set(
    scope.entries
      .filter((e) => e.primaryKey?.length && e.primaryKey.every((c) => grouped.has(`${e.emitAlias}.${c}`)))
      .map((e) => e.emitAlias),
  );
  const visit = (e: BExpr): void => {
    if (keys.has(exprKey(e))) return;
    switch (e.k) {
      case "col": {
        const entry = local.get(e.qual);
        if (!entry || whole.has(e.qual)) return;
        throw new DbError(
          SQLSTATE.groupingError,
          `column "${entry.alias ? `${entry.alias}.` : ""}${e.name}" must appear in the GROUP BY clause or be used in an aggregate function`,
          { position: e.pos ?? 0 },
        );
      }
      case "fn":
        if (e.agg) return;
        e.args.forEach(visit);
        if (e.over) {
          e.over.partitionBy.forEach(visit);
          for (const k of e.over.orderBy) visit(k.expr);
        }
        return;
      case "bin":
        visit(e.l);
        visit(e.r);
        return;
      case "un":
      case "cast":
      case "collate":
      case "isnull":
        visit(e.e);
        return;
      case "case":
        if (e.operand) visit(e.operand);
        for (const [c, r] of e.whens) {
          visit(c);
          visit(r);
        }
        if (e.else) visit(e.else);
        return;
      case "in":
        visit(e.e);
        e.list.forEach(visit);
        return;
      case "insub":
        visit(e.e);
        return;
      case "between":
        visit(e.e);
        visit(e.lo);
        visit(e.hi);
        return;
      case "like":
        visit(e.e);
        visit(e.pat);
        return;
      case "is":
        visit(e.l);
        visit(e.r);
        return;
      case "row":
        e.items.forEach(visit);
        return;
      case "func":
        e.args.forEach(visit);
        return;
      case "num":
      case "str":
      case "bool":
      case "null":
      case "blob":
      case "param":
      case "exists":
      case "subquery":
        return;
    }
  };
  exprs.forEach(visit);
}
