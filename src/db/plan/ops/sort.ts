// Sort: ORDER BY keys over a query's rows.
import type { SortKey } from "../expr-types.ts";
import { displayKeys } from "./display.ts";
import type { QueryOp } from "./index.ts";

export interface SortOp {
  op: "sort";
  input: QueryOp;
  keys: SortKey[];
}

export function explainSort(op: SortOp): string {
  return `Sort: ${displayKeys(op.keys)}`;
}
