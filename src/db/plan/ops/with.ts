// With: common table expressions (optionally recursive) visible to the query below.
import type { QueryOp } from "./index.ts";

export interface CteDef {
  name: string;
  columns: string[] | null;
  query: QueryOp;
}

export interface WithOp {
  op: "with";
  recursive: boolean;
  ctes: CteDef[];
  input: QueryOp;
  columns: { name: string; type: string }[];
}

export function explainWith(op: WithOp): string {
  return `${op.recursive ? "Recursive " : ""}CTE ${op.ctes.map((c) => c.name).join(", ")}`;
}
