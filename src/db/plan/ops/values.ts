// Values: literal rows (VALUES (…), (…)) as a relation.
import type { BExpr } from "../expr-types.ts";

export interface ValuesOp {
  op: "values";
  rows: BExpr[][];
  columns: { name: string; type: string }[];
}

export function explainValues(op: ValuesOp): string {
  return `Values Scan (${op.rows.length} row${op.rows.length === 1 ? "" : "s"})`;
}
