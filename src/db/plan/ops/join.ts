// Join: two relations combined by kind (inner, left, right, full, cross) and a condition.
import type { BExpr } from "../expr-types.ts";
import { display } from "./display.ts";
import type { FromOp } from "./index.ts";

export interface JoinOp {
  op: "join";
  kind: "inner" | "left" | "right" | "full" | "cross";
  left: FromOp;
  right: FromOp;
  on: BExpr | null;
  using: string[] | null;
  natural: boolean;
}

export function explainJoin(op: JoinOp): string {
  const kind = { inner: "Inner", left: "Left", right: "Right", full: "Full", cross: "Cross" }[op.kind];
  const how = op.natural ? " (natural)" : op.using ? ` using (${op.using.join(", ")})` : "";
  return `Nested Loop ${kind} Join${how}${op.on ? ` on ${display(op.on)}` : ""}`;
}
