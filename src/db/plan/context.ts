// State shared while planning one statement.
import type { Catalog } from "../catalog/catalog.ts";
import type { Loc } from "../parse/ast.ts";

export interface PlanContext {
  catalog: Catalog;
  positionOf(loc: Loc | null | undefined): number;
  /** The SQL text the statement came from (what positionOf counts in), when the caller has it. */
  source?: string;
  /** Postgres type inferred for each user parameter ($1 → index 0); "" when unknown. */
  paramTypes: string[];
  /** Where each user parameter first appears ($1 → [0]), for errors about it. */
  paramPositions: number[];
  /** Emitted aliases in use anywhere in the statement. */
  aliases: Set<string>;
  /** Who runs the statement, for row-level security (plan/rls.ts). */
  rls: RlsState;
  /** Messages of the row-level-security checks raised at execution ($cave_rls:<n>). */
  violations: string[];
  /** Inside a SQL function's body: its arguments, by name and by position ($n), already bound. */
  fnArgs?: FunctionArgs;
  /** Functions being expanded, outermost first (a function may not call itself). */
  calls?: string[];
}

export interface FunctionArgs {
  fn: string;
  names: (string | null)[];
  values: import("./expr-types.ts").BExpr[];
}

export interface RlsState {
  /** The request role; null for the database owner. */
  role: string | null;
  /** service_role: row-level security does not apply. */
  bypass: boolean;
  /** Tables whose policies are being expanded, for 42P17. */
  expanding: string[];
  /** Set while planning a view's definition: policies apply when the view is used, not stored in it. */
  noQuals: boolean;
}

/** A unique emitted alias for a relation the user calls `name`. */
export function uniqueAlias(ctx: PlanContext, name: string): string {
  let alias = name;
  for (let i = 2; ctx.aliases.has(alias.toLowerCase()); i++) alias = `${name}_${i}`;
  ctx.aliases.add(alias.toLowerCase());
  return alias;
}

export function noteParamType(ctx: PlanContext, index: number, type: string): void {
  if (index < 1) return;
  if (type && type !== "unknown" && !ctx.paramTypes[index - 1]) ctx.paramTypes[index - 1] = type;
}
