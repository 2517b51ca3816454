// One statement's AST → a Plan. The switch over statement kinds is exhaustive over what cave
// supports; everything else is 0A000 feature_not_supported, never passed through to SQLite.
import type { Catalog } from "../catalog/catalog.ts";
import { DbError, featureNotSupported, SQLSTATE } from "../errors.ts";
import type { Ast, Loc } from "../parse/ast.ts";
import { firstLoc, tagOf } from "../parse/ast.ts";
import type { PlanContext } from "./context.ts";
import { type DdlPlan, DdlPlanner, PolicyPlanner } from "./ddl.ts";
import { identName } from "./expr.ts";
import { planDelete, planInsert, planUpdate } from "./modify.ts";
import type { DeleteOp, InsertOp, QueryOp, UpdateOp } from "./ops/index.ts";
import { objectName, QueryPlanner } from "./query.ts";
import { INSUFFICIENT_PRIVILEGE, isCaveTable } from "./rls.ts";
import { createFunction, dropFunction, wholeStatementCall } from "./routines.ts";
import { Scope } from "./scope.ts";

/** What SHOW reports: the settings Postgres clients commonly ask for, as cave behaves. */
const SETTINGS: Record<string, string> = {
  server_version: "15.0",
  server_version_num: "150000",
  server_encoding: "UTF8",
  client_encoding: "UTF8",
  standard_conforming_strings: "on",
  datestyle: "ISO, MDY",
  timezone: "UTC",
  search_path: "public",
  integer_datetimes: "on",
  "transaction isolation level": "serializable",
  transaction_isolation: "serializable",
  default_transaction_isolation: "serializable",
  max_identifier_length: "63",
};

export interface OutputColumn {
  name: string;
  type: string;
}

export type TxAction = "begin" | "commit" | "rollback" | "savepoint" | "release" | "rollback_to";

export type Plan =
  | { kind: "query"; op: QueryOp; columns: OutputColumn[] }
  | { kind: "insert"; op: InsertOp; columns: OutputColumn[] }
  | { kind: "update"; op: UpdateOp; columns: OutputColumn[] }
  | { kind: "delete"; op: DeleteOp; columns: OutputColumn[] }
  | DdlPlan
  | { kind: "tx"; action: TxAction; savepoint: string | null }
  | { kind: "explain"; plan: Plan }
  | { kind: "noop"; command: string }
  | { kind: "show"; name: string; value: string };

export interface PlannedStatement {
  plan: Plan;
  /** Messages of the row-level-security checks the emitted SQL may raise ($cave_rls:<n>). */
  violations: string[];
  /** Postgres types inferred for the user's parameters ($1 → [0]). */
  paramTypes: string[];
  /** Where each parameter first appears. */
  paramPositions: number[];
}

/** `role`: the request role (null: the database owner). */
export function planStatement(
  stmt: Ast,
  catalog: Catalog,
  positionOf: (loc: Loc | null | undefined) => number,
  role: string | null = null,
  source?: string,
): PlannedStatement {
  const ctx: PlanContext = {
    catalog,
    positionOf,
    ...(source === undefined ? {} : { source }),
    paramTypes: [],
    paramPositions: [],
    aliases: new Set(),
    rls: { role, bypass: role === SERVICE_ROLE, expanding: [], noQuals: false },
    violations: [],
    calls: [],
  };
  refuseForRole(ctx, stmt);
  const plan = planIn(ctx, stmt);
  return { plan, paramTypes: ctx.paramTypes, paramPositions: ctx.paramPositions, violations: ctx.violations };
}

/** The request role that bypasses row-level security (Supabase's service key). */
export const SERVICE_ROLE = "service_role";

/** Statements any role may run; the policies and access checks apply inside them. */
const DATA_STATEMENTS = new Set([
  "Query",
  "Insert",
  "Update",
  "Delete",
  "StartTransaction",
  "Commit",
  "Rollback",
  "Savepoint",
  "ReleaseSavepoint",
  "Explain",
  "ShowVariable",
  "Set",
  "SetVariable",
  "SetTimeZone",
  "SetNames",
]);

/**
 * Request roles other than service_role may not change the schema or policies (Postgres would
 * say they do not own the objects); service_role may, except on cave's own tables.
 */
function refuseForRole(ctx: PlanContext, stmt: Ast): void {
  const role = ctx.rls.role;
  const tag = tagOf(stmt);
  if (role === null || DATA_STATEMENTS.has(tag)) return;
  const v = stmt[tag];
  const named = v?.table_name ?? v?.name ?? (Array.isArray(v?.names) ? v.names[0] : null);
  let table: string | null = null;
  try {
    table = Array.isArray(named) ? objectName(named).pop()! : null;
  } catch {
    table = null;
  }
  if (ctx.rls.bypass) {
    const names = [...(Array.isArray(v?.names) ? (v.names as Ast[]) : []), ...(Array.isArray(named) ? [named] : [])];
    for (const n of names) {
      const name = Array.isArray(n) ? objectName(n).pop()! : "";
      if (isCaveTable(name)) throw new DbError(INSUFFICIENT_PRIVILEGE, `permission denied for table ${name}`);
    }
    return;
  }
  if (table && ctx.catalog.relation(table))
    throw new DbError(INSUFFICIENT_PRIVILEGE, `must be owner of ${ctx.catalog.relation(table)!.kind} ${table}`, {
      hint: `The role "${role}" may only read and write rows; schema and policy changes need the owner (cave db, migrations) or service_role.`,
    });
  throw new DbError(INSUFFICIENT_PRIVILEGE, "permission denied for schema public", {
    hint: `The role "${role}" may only read and write rows; schema and policy changes need the owner (cave db, migrations) or service_role.`,
  });
}

/**
 * SET ROLE, SET SESSION AUTHORIZATION and SET request.jwt.* would be no-ops here (every
 * statement's role and claims come from its request's JWT, or it runs as the owner), and a
 * silent no-op would let a client believe it had switched. Refused: 42501 for request roles,
 * as Postgres refuses them a role they are not a member of; 0A000 for the owner.
 */
function refuseRoleChange(ctx: PlanContext, stmt: Ast): void {
  const inner = stmt.Set && typeof stmt.Set === "object" ? stmt.Set : null;
  const kind = inner ? (Object.keys(inner)[0] ?? "") : "";
  const variable =
    kind === "SingleAssignment"
      ? ((inner.SingleAssignment.variable ?? []) as Ast[]).map((p) => String(p?.Identifier?.value ?? p?.value ?? "").toLowerCase()).join(".")
      : "";
  const what =
    kind === "SetRole"
      ? `SET ROLE ${inner.SetRole.role_name?.value ?? "NONE"}`
      : kind === "SetSessionAuthorization"
        ? "SET SESSION AUTHORIZATION"
        : variable === "role" || variable === "session_authorization" || variable.startsWith("request.")
          ? `SET ${variable}`
          : null;
  if (what === null) return;
  const hint = "A statement's role and claims come from its request's JWT (the data API) or it runs as the owner (cave db); SQL cannot switch them.";
  if (ctx.rls.role !== null) throw new DbError(INSUFFICIENT_PRIVILEGE, `permission denied: ${what}`, { hint });
  throw new DbError(SQLSTATE.featureNotSupported, `${what} is not supported`, { hint });
}

/** A statement inside a query body is wrapped once more ({"Delete": {"Delete": …}}). */
function unwrap(node: Ast, tag: string): Ast {
  return node && typeof node === "object" && tagOf(node) === tag ? node[tag] : node;
}

function planIn(ctx: PlanContext, stmt: Ast): Plan {
  const planner = new QueryPlanner(ctx);
  const ddl = new DdlPlanner(ctx, planner);
  const tag = tagOf(stmt);
  const v = stmt[tag];
  const position = ctx.positionOf(firstLoc(stmt));
  switch (tag) {
    case "Query": {
      const bodyTag = tagOf(v.body);
      if (bodyTag === "Insert" || bodyTag === "Update" || bodyTag === "Delete") {
        // WITH … INSERT / UPDATE / DELETE: the CTEs are visible to the statement.
        if (v.order_by || v.limit_clause)
          throw featureNotSupported(`ORDER BY or LIMIT on ${bodyTag.toUpperCase()}`, position);
        const outer = new Scope(null);
        const w = v.with ? planner.planWith(v.with, outer) : undefined;
        const withIt = <T extends object>(op: T): T => (w ? { ...op, with: w } : op);
        if (bodyTag === "Insert") {
          const p = planInsert(planner, unwrap(v.body.Insert, "Insert"), outer);
          return { kind: "insert", op: withIt(p.op), columns: p.columns };
        }
        if (bodyTag === "Update") {
          const p = planUpdate(planner, unwrap(v.body.Update, "Update"), outer);
          return { kind: "update", op: withIt(p.op), columns: p.columns };
        }
        const p = planDelete(planner, unwrap(v.body.Delete, "Delete"), outer);
        return { kind: "delete", op: withIt(p.op), columns: p.columns };
      }
      // SELECT fn(…) / SELECT * FROM fn(…) of a function whose body writes: that write.
      const call = wholeStatementCall(planner, v);
      if (call) return call;
      const q = planner.query(v, new Scope(null));
      return { kind: "query", op: q.op, columns: q.columns };
    }
    case "Insert": {
      const p = planInsert(planner, v);
      return { kind: "insert", ...p };
    }
    case "Update": {
      const p = planUpdate(planner, v);
      return { kind: "update", ...p };
    }
    case "Delete": {
      const p = planDelete(planner, v);
      return { kind: "delete", ...p };
    }
    case "CreateTable":
      return ddl.createTable(v);
    case "CreateIndex":
      return ddl.createIndex(v);
    case "CreateView":
      return ddl.createView(v);
    case "Drop":
      return ddl.drop(v);
    case "CreatePolicy":
      return new PolicyPlanner(ctx, planner).create(v);
    case "AlterPolicy":
      return new PolicyPlanner(ctx, planner).alter(v);
    case "DropPolicy":
      return new PolicyPlanner(ctx, planner).drop(v);
    case "CreateFunction":
      return createFunction(planner, v);
    case "DropFunction":
      return dropFunction(ctx, v);
    case "AlterTable":
      return ddl.alterTable(v);
    case "Truncate":
      return ddl.truncate(v);
    case "StartTransaction":
      if (v.modifier && v.modifier !== "Deferred") throw featureNotSupported(`BEGIN ${v.modifier}`, position);
      // Every transaction is serializable (SQLite has one writer), which satisfies any
      // isolation level asked for; read-only transactions are not enforced, so refused.
      for (const m of (v.modes ?? []) as Ast[])
        if (tagOf(m) === "AccessMode" && m.AccessMode === "ReadOnly")
          throw featureNotSupported("READ ONLY transactions", position);
      return { kind: "tx", action: "begin", savepoint: null };
    case "Commit":
      return { kind: "tx", action: "commit", savepoint: null };
    case "Rollback":
      return v.savepoint
        ? { kind: "tx", action: "rollback_to", savepoint: identName(v.savepoint) }
        : { kind: "tx", action: "rollback", savepoint: null };
    case "Savepoint":
      return { kind: "tx", action: "savepoint", savepoint: identName(v.name) };
    case "ReleaseSavepoint":
      return { kind: "tx", action: "release", savepoint: identName(v.name) };
    case "Explain": {
      if (v.analyze) throw featureNotSupported("EXPLAIN ANALYZE", position);
      refuseForRole(ctx, v.statement);
      const inner = planIn(ctx, v.statement);
      if (inner.kind === "tx" || inner.kind === "explain" || inner.kind === "noop" || inner.kind === "show")
        throw new DbError(SQLSTATE.syntaxError, "EXPLAIN applies to queries, INSERT, UPDATE, DELETE and DDL", {
          position,
        });
      return { kind: "explain", plan: inner };
    }
    case "ShowVariable": {
      const name = ((v.variable ?? []) as Ast[]).map((p) => String(p.value).toLowerCase()).join(" ");
      const value = SETTINGS[name];
      if (value === undefined)
        throw new DbError(SQLSTATE.undefinedObject, `unrecognized configuration parameter "${name}"`);
      return { kind: "show", name: name === "transaction isolation level" ? "transaction_isolation" : name, value };
    }
    case "Comment":
      // Comments on objects are documentation; cave keeps none.
      return { kind: "noop", command: "COMMENT" };
    case "CreateExtension": {
      const name = String(v.name?.value ?? "").toLowerCase();
      // Their functions (gen_random_uuid, uuid_generate_v4) are built in.
      if (["pgcrypto", "uuid-ossp", "plpgsql"].includes(name)) return { kind: "noop", command: "CREATE EXTENSION" };
      throw featureNotSupported(`extension "${name}"`, position);
    }
    case "Set":
    case "SetVariable":
    case "SetTimeZone":
    case "SetNames":
      refuseRoleChange(ctx, stmt);
      return { kind: "noop", command: "SET" };
    default:
      throw featureNotSupported(`statement ${tag || "of this kind"}`, position);
  }
}
