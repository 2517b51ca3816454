// Scan: read one stored table, view or CTE under an alias.
export interface ScanOp {
  op: "scan";
  /** Relation name as stored (or the CTE's name). */
  table: string;
  /** The alias the emitted SQL uses for it. */
  alias: string;
  source: "table" | "view" | "cte" | "function";
  columns: { name: string; type: string }[];
  /** Arguments of a table function (generate_series). */
  args?: import("../expr-types.ts").BExpr[];
  /** Row-level security: only the rows meeting `cond`, which calls the table `alias`. */
  rls?: { alias: string; cond: import("../expr-types.ts").BExpr };
}

export function explainScan(op: ScanOp): string {
  const kind = { table: "Seq Scan", view: "View Scan", cte: "CTE Scan", function: "Function Scan" }[op.source];
  return `${kind} on ${op.table}${op.alias !== op.table ? ` ${op.alias}` : ""}${op.rls ? " (row security)" : ""}`;
}
