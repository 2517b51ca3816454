// Aggregate: group rows by keys (none: one group) for the aggregate calls above it.
import type { BExpr } from "../expr-types.ts";
import { display } from "./display.ts";
import type { RelOp } from "./index.ts";

export interface AggregateOp {
  op: "aggregate";
  input: RelOp;
  groupBy: BExpr[];
}

export function explainAggregate(op: AggregateOp): string {
  return op.groupBy.length ? `HashAggregate: group by ${op.groupBy.map(display).join(", ")}` : "Aggregate";
}
