// Modify: INSERT / UPDATE / DELETE on one table, with upsert and RETURNING.
import type { BExpr } from "../expr-types.ts";
import type { CteDef, FromOp, ProjectItem, QueryOp } from "./index.ts";

/** WITH … in front of INSERT / UPDATE / DELETE. */
export interface ModifyWith {
  recursive: boolean;
  ctes: CteDef[];
}

export interface InsertOp {
  with?: ModifyWith;
  op: "insert";
  table: string;
  /** Emitted alias of the target (used by ON CONFLICT DO UPDATE and RETURNING). */
  alias: string;
  columns: string[];
  /** VALUES rows, a query, or DEFAULT VALUES (null). */
  source: { rows: BExpr[][] } | { query: QueryOp } | null;
  onConflict: {
    target: string[];
    action: "nothing" | { set: { column: string; expr: BExpr }[]; where: BExpr | null };
  } | null;
  returning: ProjectItem[];
  /** Row-level security: WITH CHECK on the inserted rows, a hidden last RETURNING column. */
  check?: BExpr;
}

export interface UpdateOp {
  with?: ModifyWith;
  op: "update";
  table: string;
  alias: string;
  set: { column: string; expr: BExpr }[];
  from: FromOp | null;
  where: BExpr | null;
  returning: ProjectItem[];
  /** Row-level security: WITH CHECK on the updated rows, a hidden last RETURNING column. */
  check?: BExpr;
}

export interface DeleteOp {
  with?: ModifyWith;
  op: "delete";
  table: string;
  alias: string;
  /** DELETE … USING: the other relations the condition joins. */
  using: FromOp | null;
  where: BExpr | null;
  returning: ProjectItem[];
}

export function explainModify(op: InsertOp | UpdateOp | DeleteOp): string {
  const verb = { insert: "Insert", update: "Update", delete: "Delete" }[op.op];
  return `${verb} on ${op.table}${op.op === "insert" && op.onConflict ? ` (on conflict ${op.onConflict.action === "nothing" ? "do nothing" : "do update"})` : ""}`;
}
