// Derived: a subquery in FROM, under an alias (also used to rename a table's columns).
import type { QueryOp } from "./index.ts";

export interface DerivedOp {
  op: "derived";
  alias: string;
  query: QueryOp;
  columns: { name: string; type: string }[];
  lateral: boolean;
}

export function explainDerived(op: DerivedOp): string {
  return `Subquery Scan on ${op.alias}`;
}
