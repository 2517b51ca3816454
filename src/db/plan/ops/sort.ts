// Sort: ORDER BY keys over a query's rows.
import type { SortKey } from "../expr-types.ts";
import type { QueryOp } from "./index.ts";

export interface SortOp {
  op: "sort";
  input: QueryOp;
  keys: SortKey[];
}

export function explainSort(op: SortOp): string {
  return `Sort (${op.keys.length} key${op.keys.length === 1 ? "" : "s"})`;
}
