// The plan operators and their tree shapes. A relation (FROM) is built from scans, derived
// tables, values and joins; a query stacks filter/aggregate/project, then sort/limit, set
// operations and WITH on top. Every operator kind is handled by an exhaustive switch.
import type { AggregateOp } from "./aggregate.ts";
import { explainAggregate } from "./aggregate.ts";
import type { DerivedOp } from "./derived.ts";
import { explainDerived } from "./derived.ts";
import type { FilterOp } from "./filter.ts";
import { explainFilter } from "./filter.ts";
import type { JoinOp } from "./join.ts";
import { explainJoin } from "./join.ts";
import type { LimitOp } from "./limit.ts";
import { explainLimit } from "./limit.ts";
import type { DeleteOp, InsertOp, UpdateOp } from "./modify.ts";
import { explainModify } from "./modify.ts";
import type { ProjectOp } from "./project.ts";
import { explainProject } from "./project.ts";
import type { ScanOp } from "./scan.ts";
import { explainScan } from "./scan.ts";
import type { SetOpOp } from "./setop.ts";
import { explainSetOp } from "./setop.ts";
import type { SortOp } from "./sort.ts";
import { explainSort } from "./sort.ts";
import type { ValuesOp } from "./values.ts";
import { explainValues } from "./values.ts";
import type { WithOp } from "./with.ts";
import { explainWith } from "./with.ts";

export type { AggregateOp, DeleteOp, DerivedOp, FilterOp, InsertOp, JoinOp, LimitOp, ProjectOp, ScanOp, SetOpOp };
export type { SortOp, UpdateOp, ValuesOp, WithOp };
export type { ProjectItem } from "./project.ts";
export type { CteDef } from "./with.ts";

export type FromOp = ScanOp | DerivedOp | JoinOp | ValuesOp;
export type RelOp = FromOp | FilterOp | AggregateOp;
export type QueryOp = ProjectOp | SortOp | LimitOp | SetOpOp | WithOp | ValuesOp;
export type AnyOp = RelOp | QueryOp | InsertOp | UpdateOp | DeleteOp;

function children(op: AnyOp): AnyOp[] {
  switch (op.op) {
    case "scan":
    case "values":
      return [];
    case "derived":
      return [op.query];
    case "join":
      return [op.left, op.right];
    case "filter":
    case "aggregate":
    case "sort":
    case "limit":
      return [op.input];
    case "project":
      return op.input ? [op.input] : [];
    case "setop":
      return [op.left, op.right];
    case "with":
      return [...op.ctes.map((c) => c.query), op.input];
    case "insert":
      return [...(op.with?.ctes.map((c) => c.query) ?? []), ...(op.source && "query" in op.source ? [op.source.query] : [])];
    case "update":
      return [...(op.with?.ctes.map((c) => c.query) ?? []), ...(op.from ? [op.from] : [])];
    case "delete":
      return [...(op.with?.ctes.map((c) => c.query) ?? []), ...(op.using ? [op.using] : [])];
  }
}

function line(op: AnyOp): string {
  switch (op.op) {
    case "scan":
      return explainScan(op);
    case "derived":
      return explainDerived(op);
    case "values":
      return explainValues(op);
    case "join":
      return explainJoin(op);
    case "filter":
      return explainFilter(op);
    case "aggregate":
      return explainAggregate(op);
    case "project":
      return explainProject(op);
    case "sort":
      return explainSort(op);
    case "limit":
      return explainLimit(op);
    case "setop":
      return explainSetOp(op);
    case "with":
      return explainWith(op);
    case "insert":
    case "update":
    case "delete":
      return explainModify(op);
  }
}

/** The plan as indented lines, Postgres EXPLAIN style ("->" for children). */
export function explainTree(op: AnyOp, depth = 0): string[] {
  const pad = depth === 0 ? "" : `${"  ".repeat(depth * 2 - 1)}->  `;
  const out = [`${pad}${line(op)}`];
  for (const c of children(op)) out.push(...explainTree(c, depth + 1));
  return out;
}
