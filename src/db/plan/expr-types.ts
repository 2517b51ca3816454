// Bound expressions: the planner's output for every scalar expression. Names are resolved
// (a column is its relation's emitted alias + column), types are Postgres type names.
import type { QueryOp } from "./ops/index.ts";

export interface SortKey {
  expr: BExpr;
  desc: boolean;
  /** Explicit NULLS FIRST/LAST; null means Postgres's default (NULLS LAST ascending, FIRST descending). */
  nullsFirst: boolean | null;
}

export interface WindowSpec {
  partitionBy: BExpr[];
  orderBy: SortKey[];
  /** The frame as SQL text built from the parser's bounds (no user values inside), "" when none. */
  frame: string;
  frameArgs: BExpr[];
}

export type BExpr =
  | { k: "col"; qual: string; name: string; type: string; pos?: number }
  | { k: "num"; text: string; type: string }
  | { k: "str"; value: string; type: string }
  | { k: "bool"; value: boolean; type: string }
  | { k: "null"; type: string }
  | { k: "blob"; hex: string; type: string }
  /** A user parameter $index; or, with `auth`, auth.uid()/role()/jwt() (index 0), bound per request. */
  | { k: "param"; index: number; type: string; auth?: import("../emit/emitted.ts").AuthFn }
  | { k: "bin"; op: string; l: BExpr; r: BExpr; type: string }
  | { k: "un"; op: string; e: BExpr; type: string }
  | {
      k: "fn";
      name: string;
      args: BExpr[];
      star: boolean;
      distinct: boolean;
      filter: BExpr | null;
      over: WindowSpec | null;
      orderBy: SortKey[];
      agg: boolean;
      type: string;
    }
  | { k: "case"; operand: BExpr | null; whens: [BExpr, BExpr][]; else: BExpr | null; type: string }
  | { k: "cast"; e: BExpr; sqlite: string; type: string }
  | { k: "in"; e: BExpr; list: BExpr[]; neg: boolean; type: string }
  | { k: "insub"; e: BExpr; query: QueryOp; neg: boolean; type: string }
  | { k: "between"; e: BExpr; lo: BExpr; hi: BExpr; neg: boolean; type: string }
  | { k: "like"; e: BExpr; pat: BExpr; esc: BExpr | null; neg: boolean; ci: boolean; type: string }
  | { k: "isnull"; e: BExpr; neg: boolean; type: string }
  | { k: "is"; l: BExpr; r: BExpr; neg: boolean; type: string }
  | { k: "exists"; query: QueryOp; neg: boolean; type: string }
  | { k: "subquery"; query: QueryOp; type: string }
  | { k: "row"; items: BExpr[]; type: string }
  | { k: "collate"; e: BExpr; collation: string; type: string }
  | { k: "func"; sql: string; args: BExpr[]; type: string };
