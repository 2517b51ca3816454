// Scan: read one stored table, view or CTE under an alias.
export interface ScanOp {
  op: "scan";
  /** Relation name as stored (or the CTE's name). */
  table: string;
  /** The alias the emitted SQL uses for it. */
  alias: string;
  source: "table" | "view" | "cte";
  columns: { name: string; type: string }[];
}

export function explainScan(op: ScanOp): string {
  const kind = op.source === "table" ? "Seq Scan" : op.source === "view" ? "View Scan" : "CTE Scan";
  return `${kind} on ${op.table}${op.alias !== op.table ? ` ${op.alias}` : ""}`;
}
