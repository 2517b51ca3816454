// User-defined SQL functions (LANGUAGE sql, SECURITY INVOKER): CREATE / DROP FUNCTION into the
// catalog, and calls planned by expanding the body in place with the arguments bound as
// expressions (a caller's $n stays a bound parameter; no text is spliced). The body is planned
// with the caller's PlanContext, so the caller's role and its policies apply inside it: row-level
// security keeps its one enforcement point. A body that writes is planned as the statement itself
// when the call is the whole statement (`SELECT fn(…)`, `SELECT * FROM fn(…)`).
import type { FunctionArg, FunctionInfo, Volatility } from "../catalog/catalog.ts";
import { isReservedName } from "../catalog/catalog.ts";
import { typeFromAst, typeText } from "../catalog/types.ts";
import { DbError, featureNotSupported, SQLSTATE } from "../errors.ts";
import type { Ast } from "../parse/ast.ts";
import { firstLoc, tagOf } from "../parse/ast.ts";
import { parseLoaded } from "../parse/parser.ts";
import { typeDisplayName } from "./coerce.ts";
import { type PlanContext, uniqueAlias } from "./context.ts";
import type { ObjectsPlan } from "./ddl.ts";
import { ExprBinder, identName } from "./expr.ts";
import type { BExpr } from "./expr-types.ts";
import { FUNCTIONS } from "./functions.ts";
import { planDelete, planInsert, planUpdate } from "./modify.ts";
import type { DeleteOp, FromOp, InsertOp, ProjectOp, QueryOp, UpdateOp } from "./ops/index.ts";
import { QueryPlanner } from "./query.ts";
import { Scope, type ScopeColumn } from "./scope.ts";

export const INVALID_FUNCTION_DEFINITION = "42P13";
export const DUPLICATE_FUNCTION = "42723";

type Body =
  | { kind: "query"; op: QueryOp; columns: ScopeColumn[] }
  | { kind: "insert"; op: InsertOp; columns: ScopeColumn[] }
  | { kind: "update"; op: UpdateOp; columns: ScopeColumn[] }
  | { kind: "delete"; op: DeleteOp; columns: ScopeColumn[] };

/** A DML plan as plan.ts returns it. */
export type WritePlan = Exclude<Body, { kind: "query" }>;

const VOLATILITY: Record<string, Volatility> = { Volatile: "volatile", Stable: "stable", Immutable: "immutable" };
const DML = new Set(["Insert", "Update", "Delete"]);

function nameParts(name: Ast): string[] {
  return (name as Ast[]).map((p) => identName(p?.Identifier ?? p));
}

/** The function's name from a possibly schema-qualified name (public.f → f). */
function functionName(name: Ast): string {
  const parts = nameParts(name);
  if (parts.length === 2 && parts[0] === "public") return parts[1]!;
  if (parts.length !== 1) throw new DbError("3F000", `schema "${parts[0]}" does not exist`);
  return parts[0]!;
}

/** An AST as stored in the catalog: spans dropped, absent options kept as null (tags stay single keys). */
function storedExpr(ast: Ast): Ast {
  return JSON.parse(JSON.stringify(ast, (k, v) => (k === "span" ? undefined : v === undefined ? null : v)));
}

function base(t: string): string {
  return t.replace(/\(.*$/, "");
}

const NUMERIC = new Set(["int2", "int4", "int8", "float4", "float8", "numeric"]);
const TEXT = new Set(["text", "varchar", "bpchar", "name"]);
const TIME = new Set(["timestamptz", "timestamp", "date"]);
const JSONS = new Set(["json", "jsonb"]);

/** Whether a value of type `from` may be passed or returned where `to` is declared (implicit casts). */
function assignable(from: string, to: string): boolean {
  const f = base(from);
  const t = base(to);
  if (f === t || f === "unknown" || t === "unknown") return true;
  return [NUMERIC, TEXT, TIME, JSONS].some((g) => g.has(f) && g.has(t));
}

/** The columns a call yields as a FROM item: a TABLE's, a relation's, or one named after the function. */
export function outputColumns(ctx: PlanContext, info: FunctionInfo): ScopeColumn[] | null {
  const r = info.returns;
  if (r.columns) return r.columns;
  const rel = ctx.catalog.relation(r.type);
  if (rel) return rel.columns.map((c) => ({ name: c.name, type: c.type }));
  return null;
}

const parsedBodies = new WeakMap<FunctionInfo, Ast>();

function bodyStatement(info: FunctionInfo): Ast {
  let stmt = parsedBodies.get(info);
  if (stmt) return stmt;
  const parsed = parseLoaded(info.body);
  if (parsed.statements.length !== 1)
    throw featureNotSupported(
      parsed.statements.length === 0
        ? "a SQL function with an empty body"
        : "a SQL function body of more than one statement",
    );
  stmt = parsed.statements[0]!;
  parsedBodies.set(info, stmt);
  return stmt;
}

/** The body's statement kind: a query, or a write (INSERT/UPDATE/DELETE, with or without RETURNING). */
function bodyKind(stmt: Ast): "query" | "write" {
  const tag = tagOf(stmt);
  if (DML.has(tag)) return "write";
  if (tag === "Query") return DML.has(tagOf(stmt.Query.body)) ? "write" : "query";
  throw new DbError(
    INVALID_FUNCTION_DEFINITION,
    `a SQL function's statement must be SELECT, VALUES, or INSERT/UPDATE/DELETE, not ${tag}`,
  );
}

/** Plans the body with `values` as its arguments, as the caller (same context: role, policies, aliases). */
function planBody(planner: QueryPlanner, info: FunctionInfo, values: BExpr[]): Body {
  const ctx = planner.ctx;
  const calls = ctx.calls ?? [];
  if (calls.includes(info.name))
    throw featureNotSupported(`recursive SQL function "${info.name}" (its body is expanded in place)`);
  const inner: PlanContext = {
    ...ctx,
    positionOf: () => 0,
    calls: [...calls, info.name],
    fnArgs: { fn: info.name, names: info.args.map((a) => a.name), values },
  };
  const p = new QueryPlanner(inner);
  let stmt = bodyStatement(info);
  if (tagOf(stmt) === "Query" && DML.has(tagOf(stmt.Query.body))) {
    if (stmt.Query.with || stmt.Query.order_by || stmt.Query.limit_clause)
      throw featureNotSupported("WITH, ORDER BY or LIMIT around INSERT/UPDATE/DELETE in a SQL function");
    const t = tagOf(stmt.Query.body);
    const v = stmt.Query.body[t];
    stmt = { [t]: v && typeof v === "object" && tagOf(v) === t ? v[t] : v };
  }
  switch (tagOf(stmt)) {
    case "Query": {
      const q = p.query(stmt.Query, new Scope(null));
      return { kind: "query", op: q.op, columns: q.columns };
    }
    case "Insert":
      return { kind: "insert", ...planInsert(p, stmt.Insert) };
    case "Update":
      return { kind: "update", ...planUpdate(p, stmt.Update) };
    case "Delete":
      return { kind: "delete", ...planDelete(p, stmt.Delete) };
    default:
      throw featureNotSupported(`statement ${tagOf(stmt)} in a SQL function`);
  }
}

function signature(name: string, types: string[]): string {
  return `${name}(${types.map((t) => typeDisplayName(base(t))).join(", ")})`;
}

function noSuchFunction(name: string, shown: string[], position: number): DbError {
  return new DbError(SQLSTATE.undefinedFunction, `function ${name}(${shown.join(", ")}) does not exist`, {
    position,
    hint: "No function matches the given name and argument types. You might need to add explicit type casts.",
  });
}

/**
 * A call's arguments (positional first, then `name => value`) matched to the parameters, each
 * bound with the parameter's type (a literal or $n takes it); DEFAULTs fill the rest.
 */
function bindArgs(binder: ExprBinder, info: FunctionInfo, rawArgs: Ast[], position: number): BExpr[] {
  const bound: (BExpr | undefined)[] = new Array(info.args.length);
  const shown: string[] = [];
  const given: { name: string | null; expr: Ast }[] = [];
  for (const a of rawArgs) {
    const t = tagOf(a);
    const x = a[t];
    if (t === "Unnamed" && x?.Expr) given.push({ name: null, expr: x.Expr });
    else if (t === "ExprNamed" && tagOf(x?.name) === "Identifier")
      given.push({ name: identName(x.name.Identifier), expr: x.arg?.Expr ?? x.arg?.Unnamed?.Expr });
    else if (t === "Named") given.push({ name: identName(x.name), expr: x.arg?.Expr ?? x.arg?.Unnamed?.Expr });
    else throw featureNotSupported(`this argument form in a call of ${info.name}`, position);
  }
  let mismatch = given.length > info.args.length;
  given.forEach((g, i) => {
    const at = g.name === null ? i : info.args.findIndex((p) => p.name === g.name);
    const param = info.args[at];
    const e = param ? binder.bindTyped(g.expr, param.type) : binder.bind(g.expr);
    shown.push(`${g.name === null ? "" : `${g.name} => `}${typeDisplayName(base(e.type))}`);
    if (!param || bound[at] || !assignable(e.type, param.type)) {
      mismatch = true;
      return;
    }
    bound[at] = e.type === "unknown" ? { ...e, type: param.type } : e;
  });
  if (!mismatch) {
    info.args.forEach((p, i) => {
      if (bound[i]) return;
      if (!p.default) {
        mismatch = true;
        return;
      }
      // A DEFAULT sees no columns and no other arguments.
      const { fnArgs: _a, ...outer } = binder.ctx;
      const b = new ExprBinder({ ...outer, positionOf: () => 0 }, new Scope(null), binder.place);
      bound[i] = b.bindTyped(p.default, p.type);
    });
  }
  if (mismatch) throw noSuchFunction(info.name, shown, position);
  return bound as BExpr[];
}

function writesRefused(info: FunctionInfo, position: number): DbError {
  return new DbError(
    SQLSTATE.featureNotSupported,
    `function ${info.name} writes (INSERT/UPDATE/DELETE) and can only be called as a whole statement`,
    { position, hint: `Call it alone: SELECT ${info.name}(…) or SELECT * FROM ${info.name}(…).` },
  );
}

/** `fn(args)` in an expression: a scalar subquery over the expanded body. */
export function scalarCall(
  planner: QueryPlanner,
  info: FunctionInfo,
  rawArgs: Ast[],
  node: Ast,
  binder: ExprBinder,
): BExpr {
  const position = binder.pos(node);
  const values = bindArgs(binder, info, rawArgs, position);
  const r = info.returns;
  if (r.set || outputColumns(planner.ctx, info))
    throw featureNotSupported(
      `calling ${r.set ? "set-returning" : "row-returning"} function ${info.name} in an expression (use SELECT * FROM ${info.name}(…))`,
      position,
    );
  if (bodyKind(bodyStatement(info)) === "write") throw writesRefused(info, position);
  // A void function whose body only reads has no effect to run.
  if (r.type === "void") return { k: "null", type: "void" };
  const body = planBody(planner, info, values);
  const type = body.columns[0]?.type ?? r.type;
  const sub: BExpr = { k: "subquery", query: body.op as QueryOp, type: r.type };
  return base(type) === base(r.type) || type === "unknown" ? sub : binder.cast({ ...sub, type }, r.type, node, false);
}

/** `fn(args)` in FROM: the expanded body as a derived table with the function's output columns. */
export function tableCall(
  planner: QueryPlanner,
  info: FunctionInfo,
  rawArgs: Ast[],
  scope: Scope,
  position: number,
  aliasNode: Ast,
  colAliases: string[],
): FromOp {
  const ctx = planner.ctx;
  // Arguments see the enclosing query, not the other FROM items (no LATERAL).
  const binder = new ExprBinder(
    ctx,
    new Scope(scope.parent),
    planner.place({ noAggregates: "functions in FROM", windows: false }),
  );
  const values = bindArgs(binder, info, rawArgs, position);
  if (bodyKind(bodyStatement(info)) === "write") throw writesRefused(info, position);
  const body = planBody(planner, info, values);
  const userAlias = aliasNode ? identName(aliasNode.name) : info.name;
  const composite = outputColumns(ctx, info);
  let columns: ScopeColumn[];
  let query: QueryOp;
  if (composite) {
    columns = composite.map((c, i) => ({ name: colAliases[i] ?? c.name, type: c.type }));
    query = planner.rename({ op: body.op as QueryOp, columns: body.columns }, columns);
    if (!info.returns.set)
      query = { op: "limit", input: query, limit: { k: "num", text: "1", type: "int8" }, offset: null };
  } else {
    const name = colAliases[0] ?? (aliasNode && !colAliases.length ? userAlias : info.name);
    columns = [{ name, type: info.returns.type }];
    if (info.returns.set) query = planner.rename({ op: body.op as QueryOp, columns: body.columns }, columns);
    else {
      const project: ProjectOp = {
        op: "project",
        input: null,
        items: [{ expr: { k: "subquery", query: body.op as QueryOp, type: info.returns.type }, name }],
        distinct: false,
        windows: [],
      };
      query = project;
    }
  }
  const emitAlias = uniqueAlias(ctx, userAlias);
  scope.add({ alias: userAlias, emitAlias, columns }, position);
  return { op: "derived", alias: emitAlias, query, columns, lateral: false };
}

/**
 * A statement that is only a call of a function whose body writes — `SELECT fn(…) [AS x]` or
 * `SELECT * FROM fn(…)` — planned as that INSERT/UPDATE/DELETE, its RETURNING named as the
 * function's result. Null for any other statement.
 */
export function wholeStatementCall(planner: QueryPlanner, q: Ast): WritePlan | null {
  if (q.with || q.order_by || q.limit_clause || q.fetch || tagOf(q.body) !== "Select") return null;
  const s = q.body.Select;
  if (s.selection || s.having || s.distinct || (s.projection ?? []).length !== 1) return null;
  const gb = s.group_by?.Expressions;
  if (gb && (gb[0] ?? []).length) return null;
  const item = s.projection[0];
  const from = (s.from ?? []) as Ast[];
  const ctx = planner.ctx;
  const lookup = (name: Ast): FunctionInfo | undefined => {
    const parts = nameParts(name);
    if (parts.length > 2 || (parts.length === 2 && parts[0] !== "public")) return undefined;
    const n = parts[parts.length - 1]!;
    return FUNCTIONS[n] ? undefined : ctx.catalog.function(n);
  };
  let info: FunctionInfo | undefined;
  let rawArgs: Ast[] = [];
  let name: string | null = null;
  let node: Ast;
  if (from.length === 0) {
    const t = tagOf(item);
    const e = t === "UnnamedExpr" ? item.UnnamedExpr : t === "ExprWithAlias" ? item.ExprWithAlias.expr : null;
    if (tagOf(e) !== "Function") return null;
    info = lookup(e.Function.name);
    rawArgs = e.Function.args?.List?.args ?? [];
    name = t === "ExprWithAlias" ? identName(item.ExprWithAlias.alias) : (info?.name ?? null);
    node = e;
  } else {
    const rel = from[0]?.relation?.Table;
    if (from.length !== 1 || (from[0].joins ?? []).length || !rel?.args || tagOf(item) !== "Wildcard") return null;
    if (rel.alias) return null;
    info = lookup(rel.name);
    rawArgs = rel.args.args ?? [];
    node = from[0].relation;
  }
  if (!info || bodyKind(bodyStatement(info)) !== "write") return null;
  const position = ctx.positionOf(firstLoc(node));
  const binder = new ExprBinder(ctx, new Scope(null), planner.place({ noAggregates: "function arguments" }));
  const values = bindArgs(binder, info, rawArgs, position);
  const body = planBody(planner, info, values) as WritePlan;
  const composite = outputColumns(ctx, info);
  if (info.returns.type === "void") return { ...body, columns: [] } as WritePlan;
  if (composite)
    return {
      ...body,
      columns: composite.map((c, i) => ({ name: c.name, type: body.columns[i]?.type ?? c.type })),
    } as WritePlan;
  if (name !== null && from.length === 0 && info.returns.set)
    throw featureNotSupported(
      `calling set-returning function ${info.name} in the select list (use SELECT * FROM ${info.name}(…))`,
      position,
    );
  return {
    ...body,
    columns: [{ name: name ?? info.name, type: body.columns[0]?.type ?? info.returns.type }],
  } as WritePlan;
}

/** CREATE [OR REPLACE] FUNCTION … LANGUAGE sql: checked as Postgres checks it, then stored. */
export function createFunction(planner: QueryPlanner, v: Ast): ObjectsPlan {
  const ctx = planner.ctx;
  const name = functionName(v.name);
  if (isReservedName(name))
    throw new DbError(SQLSTATE.reservedName, `function name "${name}" is reserved`, {
      hint: "Names beginning with sqlite_ or _cave_ belong to the engine.",
    });
  if (FUNCTIONS[name] || name === "generate_series")
    throw new DbError(DUPLICATE_FUNCTION, `function ${name} already exists as a built-in function`, {
      hint: "cave resolves built-in functions first; choose another name.",
    });
  const language = String(v.language?.value ?? "").toLowerCase();
  if (language !== "sql")
    throw language === ""
      ? new DbError(INVALID_FUNCTION_DEFINITION, "no language specified")
      : featureNotSupported(`LANGUAGE ${language} (only LANGUAGE sql functions are)`);
  if (String(v.security ?? "") === "Definer")
    throw new DbError(SQLSTATE.featureNotSupported, "SECURITY DEFINER functions are not supported", {
      hint: "A definer's function would run without the caller's row-level-security policies; functions here are SECURITY INVOKER.",
    });
  if (v.temporary || (v.set_params ?? []).length || v.determinism_specifier || v.options?.length)
    throw featureNotSupported("this CREATE FUNCTION option");
  const args: FunctionArg[] = [];
  for (const a of (v.args ?? []) as Ast[]) {
    if (a.mode && String(a.mode) !== "In") throw featureNotSupported(`${String(a.mode).toUpperCase()} parameters`);
    const argName = a.name ? identName(a.name) : null;
    if (argName !== null && args.some((x) => x.name === argName))
      throw new DbError(INVALID_FUNCTION_DEFINITION, `parameter name "${argName}" used more than once`);
    const def = a.default_expr ? storedExpr(a.default_expr) : null;
    if (!def && args.some((x) => x.default))
      throw new DbError(
        INVALID_FUNCTION_DEFINITION,
        "input parameters after one with a default value must also have defaults",
      );
    args.push({ name: argName, type: typeText(typeFromAst(a.data_type)), default: def });
  }
  const rt = v.return_type;
  if (!rt) throw new DbError(INVALID_FUNCTION_DEFINITION, "function result type must be specified");
  const rtTag = tagOf(rt);
  const set = rtTag === "SetOf";
  const dt = rt[rtTag];
  let returns: FunctionInfo["returns"];
  if (tagOf(dt) === "Table") {
    const cols = (dt.Table as Ast[]).map((c) => ({
      name: identName(c.name),
      type: typeText(typeFromAst(c.data_type)),
    }));
    returns = { set: true, type: "record", columns: cols };
  } else {
    const t = typeText(typeFromAst(dt));
    const rel = ctx.catalog.relation(t);
    if (t === "record" || t === "trigger") throw featureNotSupported(`functions returning ${t}`);
    returns = { set, type: rel ? rel.name : t, columns: null };
  }
  const fb = v.function_body;
  const fbTag = tagOf(fb);
  const bodyValue = fbTag === "AsBeforeOptions" || fbTag === "AsAfterOptions" ? (fb[fbTag]?.body ?? fb[fbTag]) : null;
  const lit = bodyValue?.Value?.value ?? bodyValue?.value;
  const litTag = tagOf(lit);
  const body =
    litTag === "DollarQuotedString"
      ? String(lit.DollarQuotedString.value ?? "")
      : litTag === "SingleQuotedString"
        ? String(lit.SingleQuotedString)
        : null;
  if (body === null) throw featureNotSupported("this form of function body (use AS $$ … $$)");
  const volatility = VOLATILITY[String(v.behavior ?? "Volatile")] ?? "volatile";
  const info: FunctionInfo = { name, args, returns, volatility, body };
  validate(planner, info);
  const existing = ctx.catalog.function(name);
  if (existing) {
    const same = existing.args.map((a) => a.type).join(",") === args.map((a) => a.type).join(",");
    if (!v.or_replace)
      throw new DbError(
        DUPLICATE_FUNCTION,
        `function ${signature(
          name,
          existing.args.map((a) => a.type),
        )} already exists${same ? " with same argument types" : ""}`,
        same ? {} : { hint: "cave keeps one function per name (no overloading): DROP FUNCTION it first." },
      );
    if (same && JSON.stringify(existing.returns) !== JSON.stringify(returns))
      throw new DbError(INVALID_FUNCTION_DEFINITION, "cannot change return type of existing function", {
        hint: `Use DROP FUNCTION ${signature(
          name,
          args.map((a) => a.type),
        )} first.`,
      });
  }
  const { name: _n, ...data } = info;
  return {
    kind: "objects",
    command: "CREATE FUNCTION",
    writes: [{ kind: "function", rel: "", name, data: JSON.stringify(data) }],
  };
}

/** Plans the body once with typed NULLs as arguments: unknown tables, columns and result shapes fail now. */
function validate(planner: QueryPlanner, info: FunctionInfo): void {
  let stmt: Ast;
  try {
    stmt = bodyStatement(info);
  } catch (e) {
    if (e instanceof DbError && e.sqlstate === SQLSTATE.syntaxError)
      throw new DbError(SQLSTATE.syntaxError, `${e.message} in the body of function ${info.name}`, { hint: e.hint });
    throw e;
  }
  const kind = bodyKind(stmt);
  if (kind === "write" && info.volatility !== "volatile") {
    const verb = DML.has(tagOf(stmt)) ? tagOf(stmt) : tagOf(stmt.Query.body);
    throw new DbError(SQLSTATE.featureNotSupported, `${verb.toUpperCase()} is not allowed in a non-volatile function`);
  }
  // Default expressions are checked against their parameter's type.
  const place = planner.place({ noAggregates: "DEFAULT expressions" });
  for (const a of info.args) {
    if (!a.default) continue;
    const e = new ExprBinder({ ...planner.ctx, positionOf: () => 0 }, new Scope(null), place).bindTyped(
      a.default,
      a.type,
    );
    if (!assignable(e.type, a.type))
      throw new DbError(
        SQLSTATE.datatypeMismatch,
        `argument of function default is of type ${typeDisplayName(base(e.type))} but parameter is of type ${typeDisplayName(base(a.type))}`,
      );
  }
  const values: BExpr[] = info.args.map((a) => ({ k: "null", type: a.type }));
  const body = planBody(planner, info, values);
  const r = info.returns;
  if (r.type === "void") return;
  const declared = outputColumns(planner.ctx, info) ?? [{ name: info.name, type: r.type }];
  const shown = r.columns ? "record" : typeDisplayName(base(r.type));
  if (kind === "write" && body.columns.length === 0)
    throw new DbError(INVALID_FUNCTION_DEFINITION, `return type mismatch in function declared to return ${shown}`, {
      hint: "Function's final statement must be SELECT or INSERT/UPDATE/DELETE RETURNING.",
    });
  if (body.columns.length !== declared.length)
    throw new DbError(INVALID_FUNCTION_DEFINITION, `return type mismatch in function declared to return ${shown}`, {
      hint:
        declared.length === 1
          ? "Final statement must return exactly one column."
          : `Final statement returns too ${body.columns.length > declared.length ? "many" : "few"} columns.`,
    });
  body.columns.forEach((c, i) => {
    const want = declared[i]!.type;
    if (!assignable(c.type, want))
      throw new DbError(INVALID_FUNCTION_DEFINITION, `return type mismatch in function declared to return ${shown}`, {
        hint: `Final statement returns ${typeDisplayName(base(c.type))} instead of ${typeDisplayName(base(want))} at column ${i + 1}.`,
      });
  });
}

/** DROP FUNCTION [IF EXISTS] name[(types)], …: argument types, when given, must match. */
export function dropFunction(ctx: PlanContext, v: Ast): ObjectsPlan {
  if (String(v.drop_behavior ?? "") === "Cascade" || String(v.option ?? "") === "Cascade") {
    // Nothing depends on a function in cave's catalog: CASCADE drops just the function.
  }
  const writes: ObjectsPlan["writes"] = [];
  for (const d of (v.func_desc ?? []) as Ast[]) {
    const name = functionName(d.name);
    const info = ctx.catalog.function(name);
    const types = d.args ? (d.args as Ast[]).map((a) => typeText(typeFromAst(a.data_type))) : null;
    const matches = info && (!types || types.join(",") === info.args.map((a) => a.type).join(","));
    if (!matches) {
      if (v.if_exists) continue;
      throw new DbError(
        SQLSTATE.undefinedFunction,
        types ? `function ${signature(name, types)} does not exist` : `could not find a function named "${name}"`,
      );
    }
    writes.push({ kind: "function", rel: "", name, data: null });
  }
  return { kind: "objects", command: "DROP FUNCTION", writes };
}
