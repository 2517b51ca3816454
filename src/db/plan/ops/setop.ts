// SetOp: UNION / INTERSECT / EXCEPT [ALL] of two queries with matching column counts.
import type { QueryOp } from "./index.ts";

export interface SetOpOp {
  op: "setop";
  kind: "union" | "intersect" | "except";
  all: boolean;
  left: QueryOp;
  right: QueryOp;
  columns: { name: string; type: string }[];
}

export function explainSetOp(op: SetOpOp): string {
  const name = { union: "Append (UNION", intersect: "SetOp (INTERSECT", except: "SetOp (EXCEPT" }[op.kind];
  return `${name}${op.all ? " ALL" : ""})`;
}
