// Limit: LIMIT / OFFSET over a query's rows.
import type { BExpr } from "../expr-types.ts";
import { display } from "./display.ts";
import type { QueryOp } from "./index.ts";

export interface LimitOp {
  op: "limit";
  input: QueryOp;
  limit: BExpr | null;
  offset: BExpr | null;
}

export function explainLimit(op: LimitOp): string {
  return `Limit${op.limit ? ` ${display(op.limit)}` : ""}${op.offset ? ` offset ${display(op.offset)}` : ""}`;
}
