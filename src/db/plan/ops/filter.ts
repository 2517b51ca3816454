// Filter: keep rows where the condition is true (WHERE below an aggregate, HAVING above it).
import type { BExpr } from "../expr-types.ts";
import { display } from "./display.ts";
import type { RelOp } from "./index.ts";

export interface FilterOp {
  op: "filter";
  input: RelOp;
  cond: BExpr;
}

export function explainFilter(op: FilterOp): string {
  return `Filter: ${display(op.cond)}`;
}
