// Row-level security in the planner: who may reference a relation at all, the USING quals a
// table reference gets (its policies' expressions, bound as subquery filters), and the
// WITH CHECK options a write must pass. Postgres 15's rules (src/backend/rewrite/rowsecurity.c):
// permissive policies OR-ed, restrictive AND-ed, none permissive = no rows; WITH CHECK falls back
// to USING; restrictive checks are reported by name, in name order.
import type { PolicyCommand, PolicyInfo, RelationInfo } from "../catalog/catalog.ts";
import { DbError } from "../errors.ts";
import type { PlanContext } from "./context.ts";
import { ExprBinder } from "./expr.ts";
import type { BExpr } from "./expr-types.ts";
import type { QueryPlanner } from "./query.ts";
import { Scope } from "./scope.ts";

export const INSUFFICIENT_PRIVILEGE = "42501";
export const INFINITE_RECURSION = "42P17";

/** The role name policies see for the database owner (`TO postgres` applies to it under FORCE). */
export const OWNER_ROLE = "postgres";

/** cave's own tables (auth users, storage objects…): never reachable by a request role. */
export function isCaveTable(name: string): boolean {
  return name.toLowerCase().startsWith("cave_");
}

/** Refuses a relation a request role may not reference at all (fail closed). */
export function checkAccess(ctx: PlanContext, info: RelationInfo, position: number): void {
  if (ctx.rls.role === null) return;
  if (isCaveTable(info.name))
    throw new DbError(INSUFFICIENT_PRIVILEGE, `permission denied for table ${info.name}`, { position });
  if (ctx.rls.bypass || info.kind !== "table" || ctx.catalog.tableSecurity(info.name).enabled) return;
  throw new DbError(INSUFFICIENT_PRIVILEGE, `permission denied for table ${info.name}`, {
    position,
    hint: `Row-level security is not enabled on "${info.name}", so request roles may not use it. Enable it and add policies: ALTER TABLE ${info.name} ENABLE ROW LEVEL SECURITY; CREATE POLICY … ON ${info.name} …`,
  });
}

/** Whether the table's policies apply to this statement's role. */
export function rlsApplies(ctx: PlanContext, table: string): boolean {
  if (ctx.rls.noQuals) return false;
  const sec = ctx.catalog.tableSecurity(table);
  if (!sec.enabled) return false;
  if (ctx.rls.role === null) return sec.forced;
  return !ctx.rls.bypass;
}

/** Views are expanded (security invoker) whenever policies could apply beneath them. */
export function inlineViews(ctx: PlanContext): boolean {
  if (ctx.rls.noQuals) return false;
  return ctx.rls.role !== null || ctx.catalog.anyForced;
}

function applicable(ctx: PlanContext, table: string, cmd: PolicyCommand): PolicyInfo[] {
  const role = (ctx.rls.role ?? OWNER_ROLE).toLowerCase();
  return ctx.catalog
    .policies(table)
    .filter(
      (p) => (p.command === "all" || p.command === cmd) && (p.roles.includes("public") || p.roles.includes(role)),
    );
}

const FALSE: BExpr = { k: "bool", value: false, type: "bool" };

function combine(op: "AND" | "OR", xs: BExpr[]): BExpr {
  return xs.reduce((l, r) => ({ k: "bin", op, l, r, type: "bool" }));
}

export function and(a: BExpr | null, b: BExpr | null): BExpr | null {
  if (!a) return b;
  if (!b) return a;
  return { k: "bin", op: "AND", l: a, r: b, type: "bool" };
}

/** Expands `table`'s policies; a table met again inside its own expansion is Postgres's 42P17. */
function expanding<T>(ctx: PlanContext, table: string, fn: () => T): T {
  if (ctx.rls.expanding.includes(table))
    throw new DbError(INFINITE_RECURSION, `infinite recursion detected in policy for relation "${table}"`);
  ctx.rls.expanding.push(table);
  try {
    return fn();
  } finally {
    ctx.rls.expanding.pop();
  }
}

/** A policy expression bound over the table's row, which the emitted SQL calls `emitAlias`. */
function bindPolicy(planner: QueryPlanner, info: RelationInfo, emitAlias: string, ast: unknown): BExpr {
  const p = planner.forStoredSql();
  const scope = new Scope(null);
  scope.add({ alias: info.name, emitAlias, columns: info.columns.map((c) => ({ name: c.name, type: c.type })) }, 0);
  return new ExprBinder(p.ctx, scope, p.place({ noAggregates: "policy expressions" })).bind(ast);
}

/**
 * The USING quals for the rows of `info` that the given commands may see or target (SELECT
 * and UPDATE both apply to an UPDATE that reads the table); null when row security is off.
 */
export function usingQual(
  planner: QueryPlanner,
  info: RelationInfo,
  cmds: PolicyCommand[],
  emitAlias: string,
): BExpr | null {
  const ctx = planner.ctx;
  if (!rlsApplies(ctx, info.name)) return null;
  return expanding(ctx, info.name, () => {
    const parts: BExpr[] = [];
    for (const cmd of cmds) {
      const pols = applicable(ctx, info.name, cmd);
      const perm = pols
        .filter((p) => p.permissive && p.using)
        .map((p) => bindPolicy(planner, info, emitAlias, p.using));
      const restr = pols
        .filter((p) => !p.permissive && p.using)
        .map((p) => bindPolicy(planner, info, emitAlias, p.using));
      parts.push(perm.length ? combine("AND", [combine("OR", perm), ...restr]) : FALSE);
    }
    return combine("AND", parts);
  });
}

export type CheckKind = "check" | "conflict";

/** One WITH CHECK option: a condition a new (or conflicting) row must meet, and the error if not. */
export interface CheckOption {
  expr: BExpr;
  message: string;
}

/**
 * The WITH CHECK options of `cmd` for a row called `emitAlias`: one for the permissive policies
 * together (false when there are none), then one per restrictive policy, by name. SELECT
 * policies (RETURNING) and conflict checks use USING; the others WITH CHECK, else USING.
 */
export function checkOptions(
  planner: QueryPlanner,
  info: RelationInfo,
  cmd: "insert" | "update" | "select",
  emitAlias: string,
  kind: CheckKind,
): CheckOption[] {
  const ctx = planner.ctx;
  if (!rlsApplies(ctx, info.name)) return [];
  return expanding(ctx, info.name, () => {
    const useUsing = cmd === "select" || kind === "conflict";
    const qualOf = (p: PolicyInfo) => (useUsing ? p.using : (p.check ?? p.using));
    const pols = applicable(ctx, info.name, cmd);
    const what = kind === "conflict" ? " (USING expression)" : "";
    const message = (name: string | null) =>
      `new row violates row-level security policy${name === null ? "" : ` "${name}"`}${what} for table "${info.name}"`;
    const perm = pols
      .filter((p) => p.permissive && qualOf(p))
      .map((p) => bindPolicy(planner, info, emitAlias, qualOf(p)));
    const out: CheckOption[] = [{ expr: perm.length ? combine("OR", perm) : FALSE, message: message(null) }];
    const restr = pols
      .filter((p) => !p.permissive && qualOf(p))
      .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    for (const p of restr)
      out.push({ expr: bindPolicy(planner, info, emitAlias, qualOf(p)), message: message(p.name) });
    return out;
  });
}

/** The marker a failed check raises: SQLite reports `bad JSON path: '$cave_rls:<n>'` and aborts the statement. */
export const VIOLATION_PATTERN = /bad JSON path: '\$cave_rls:(\d+)'/;

/**
 * 1 when every check passes; otherwise evaluation stops with an error naming the first failed
 * check. libSQL cannot raise errors from SQL, but json_extract() with an invalid path does: the
 * statement is aborted and SQLite undoes its partial changes, so nothing is written.
 */
export function raiseUnless(ctx: PlanContext, checks: CheckOption[]): BExpr {
  if (!checks.length) return { k: "num", text: "1", type: "int4" };
  // One flat CASE, checks in order: nesting them would overflow SQLite's parser stack.
  const whens = checks.map((c, i) => {
    const n = ctx.violations.push(c.message) - 1;
    return `WHEN $${i + 1} IS NOT TRUE THEN json_extract('{}', '$cave_rls:${n}')`;
  });
  return { k: "func", sql: `CASE ${whens.join(" ")} ELSE 1 END`, args: checks.map((c) => c.expr), type: "int4" };
}

/** `value`, evaluated only after `check` (a raiseUnless) has passed. */
export function afterCheck(check: BExpr, value: BExpr): BExpr {
  return { k: "func", sql: "CASE WHEN $1 = 1 THEN $2 END", args: [check, value], type: value.type };
}

/** A deep copy of a bound expression (or plan) with columns of `alias` replaced. */
export function substitute<T>(x: T, alias: string, values: Map<string, BExpr>): T {
  if (Array.isArray(x)) return x.map((v) => substitute(v, alias, values)) as T;
  if (x && typeof x === "object") {
    const o = x as Record<string, unknown>;
    if (o.k === "col" && o.qual === alias && values.has(o.name as string)) return values.get(o.name as string) as T;
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(o)) out[k] = substitute(v, alias, values);
    return out as T;
  }
  return x;
}

/** Whether bound expressions or plans read columns of the relation emitted as `alias`. */
export function readsAlias(alias: string, ...parts: unknown[]): boolean {
  const needle = `"qual":${JSON.stringify(alias)}`;
  return parts.some((p) => p !== null && p !== undefined && JSON.stringify(p).includes(needle));
}
