// Project: compute the output columns (and windows), optionally DISTINCT.
import type { BExpr } from "../expr-types.ts";
import type { RelOp } from "./index.ts";

export interface ProjectItem {
  expr: BExpr;
  name: string;
}

export interface ProjectOp {
  op: "project";
  /** null for SELECT without FROM. */
  input: RelOp | null;
  items: ProjectItem[];
  distinct: boolean;
  /** Named windows referenced by OVER name, emitted as WINDOW clauses. */
  windows: { name: string; spec: import("../expr-types.ts").WindowSpec }[];
}

export function explainProject(op: ProjectOp): string {
  const hasWindow = op.items.some((i) => i.expr.k === "fn" && i.expr.over);
  return `${op.distinct ? "Unique " : ""}${hasWindow ? "WindowAgg " : ""}Result (${op.items.map((i) => i.name).join(", ")})`;
}
