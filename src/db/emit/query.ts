// Plan operators → SQLite SELECT text. A stack of limit/sort/project/filter/aggregate/filter
// over a FROM tree folds back into one SELECT block; set operations become compounds.
import { featureNotSupported } from "../errors.ts";
import type { FromOp, LimitOp, ProjectOp, QueryOp, RelOp, SortOp } from "../plan/ops/index.ts";
import type { SqlWriter } from "./emitted.ts";
import { ExprEmitter } from "./expr.ts";
import { quoteIdent } from "./quote.ts";

function ex(w: SqlWriter): ExprEmitter {
  return new ExprEmitter(w, emitQuery);
}

/** A query operator as a complete SELECT (or compound, or VALUES) statement body. */
export function emitQuery(op: QueryOp, w: SqlWriter): string {
  switch (op.op) {
    case "with": {
      const ctes = op.ctes.map(
        (c) =>
          `${quoteIdent(c.name)}${c.columns ? `(${c.columns.map(quoteIdent).join(", ")})` : ""} AS (${emitQuery(c.query, w)})`,
      );
      return `WITH ${op.recursive ? "RECURSIVE " : ""}${ctes.join(", ")} ${emitQuery(op.input, w)}`;
    }
    case "limit":
    case "sort":
    case "project":
      return block(op, w);
    case "setop":
      return `${operand(op.left, w, false)} ${op.kind.toUpperCase()}${op.all ? " ALL" : ""} ${operand(op.right, w, true)}`;
    case "values":
      return values(op.rows, w);
  }
}

function values(rows: import("../plan/expr-types.ts").BExpr[][], w: SqlWriter): string {
  const e = ex(w);
  return `VALUES ${rows.map((r) => `(${r.map((x) => e.emit(x)).join(", ")})`).join(", ")}`;
}

/** A compound's operand: plain SELECT blocks inline; anything with its own ORDER/LIMIT/WITH wrapped. */
function operand(op: QueryOp, w: SqlWriter, right: boolean): string {
  if (op.op === "project" || op.op === "values" || (op.op === "setop" && !right)) return emitQuery(op, w);
  return `SELECT * FROM (${emitQuery(op, w)})`;
}

function block(top: LimitOp | SortOp | ProjectOp, w: SqlWriter): string {
  const e = ex(w);
  let limit: LimitOp | null = null;
  let sort: SortOp | null = null;
  let op: QueryOp = top;
  if (op.op === "limit") {
    limit = op;
    op = op.input;
  }
  if (op.op === "sort") {
    sort = op;
    op = op.input;
  }
  let body: string;
  if (op.op === "project") body = select(op, w);
  else if (op.op === "values") body = values(op.rows, w);
  else if (op.op === "setop" || op.op === "with") body = emitQuery(op, w);
  else body = `SELECT * FROM (${emitQuery(op, w)})`;
  if (sort) body += ` ORDER BY ${e.sortKeys(sort.keys)}`;
  if (limit) {
    body += ` LIMIT ${limit.limit ? e.emit(limit.limit) : "-1"}`;
    if (limit.offset) body += ` OFFSET ${e.emit(limit.offset)}`;
  }
  return body;
}

function select(p: ProjectOp, w: SqlWriter): string {
  const e = ex(w);
  const items = p.items.map((i) => `${e.emit(i.expr)} AS ${quoteIdent(i.name)}`);
  let s = `SELECT ${p.distinct ? "DISTINCT " : ""}${items.length ? items.join(", ") : "NULL"}`;
  let rel: RelOp | null = p.input;
  let having: string | null = null;
  let groupBy: string | null = null;
  let where: string | null = null;
  if (rel?.op === "filter" && rel.input.op === "aggregate") {
    having = e.emit(rel.cond);
    rel = rel.input;
  }
  if (rel?.op === "aggregate") {
    if (rel.groupBy.length) groupBy = rel.groupBy.map((g) => e.groupKey(g)).join(", ");
    rel = rel.input;
  }
  if (rel?.op === "filter") {
    where = e.emit(rel.cond);
    rel = rel.input;
  }
  if (rel && rel.op !== "filter" && rel.op !== "aggregate") {
    const from = fromClause(rel, w);
    if (from) s += ` FROM ${from}`;
  } else if (rel) {
    s += ` FROM (${select({ op: "project", input: rel, items: [], distinct: false, windows: [] }, w)})`;
  }
  if (where) s += ` WHERE ${where}`;
  if (groupBy) s += ` GROUP BY ${groupBy}`;
  if (having) s += ` HAVING ${having}`;
  if (p.windows.length)
    s += ` WINDOW ${p.windows.map((x) => `${quoteIdent(x.name)} AS (${e.window(x.spec)})`).join(", ")}`;
  return s;
}

/** A FROM tree; "" for the one-row relation of a SELECT without FROM. */
export function fromClause(op: FromOp, w: SqlWriter): string {
  switch (op.op) {
    case "scan":
      if (op.args) {
        const e = ex(w);
        return `${op.table}(${op.args.map((a) => e.emit(a)).join(", ")}) AS ${quoteIdent(op.alias)}`;
      }
      if (op.rls)
        return `(SELECT * FROM ${quoteIdent(op.table)} AS ${quoteIdent(op.rls.alias)} WHERE ${ex(w).emit(op.rls.cond)}) AS ${quoteIdent(op.alias)}`;
      return op.alias === op.table ? quoteIdent(op.table) : `${quoteIdent(op.table)} AS ${quoteIdent(op.alias)}`;
    case "derived":
      if (op.lateral) throw featureNotSupported("LATERAL subqueries");
      return `(${emitQuery(op.query, w)}) AS ${quoteIdent(op.alias)}`;
    case "values":
      if (op.columns.length === 0) return "";
      return `(${values(op.rows, w)})`;
    case "join": {
      const left = fromClause(op.left, w);
      const rightRaw = fromClause(op.right, w);
      const right = op.right.op === "join" ? `(${rightRaw})` : rightRaw;
      const kind = { inner: "JOIN", left: "LEFT JOIN", right: "RIGHT JOIN", full: "FULL JOIN", cross: "JOIN" }[op.kind];
      let s = `${left} ${kind} ${right}`;
      if (op.on) s += ` ON ${ex(w).emit(op.on)}`;
      else if (op.using) s += ` USING (${op.using.map(quoteIdent).join(", ")})`;
      else if (op.kind !== "cross" && op.kind !== "inner") s += " ON 1";
      return s;
    }
  }
}
