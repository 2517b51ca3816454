// BExpr → SQLite expression text. Every compound expression is parenthesized, so the
// precedence the planner saw is the one SQLite evaluates.
import { DbError, SQLSTATE } from "../errors.ts";
import type { BExpr, SortKey, WindowSpec } from "../plan/expr-types.ts";
import type { QueryOp } from "../plan/ops/index.ts";
import type { SqlWriter } from "./emitted.ts";
import { quoteIdent, quoteLiteral } from "./quote.ts";

export type QueryEmitter = (op: QueryOp, w: SqlWriter) => string;

export class ExprEmitter {
  constructor(
    readonly w: SqlWriter,
    readonly query: QueryEmitter,
  ) {}

  emit(e: BExpr): string {
    switch (e.k) {
      case "col":
        return e.qual ? `${quoteIdent(e.qual)}.${quoteIdent(e.name)}` : quoteIdent(e.name);
      case "num":
        return e.text;
      case "str":
        return this.w.inline ? quoteLiteral(e.value) : this.w.bindConst(e.value);
      case "bool":
        return e.value ? "1" : "0";
      case "null":
        return "NULL";
      case "blob":
        if (this.w.inline) return `X'${e.hex.replace(/[^0-9a-fA-F]/g, "")}'`;
        return this.w.bindConst(Uint8Array.from(Buffer.from(e.hex, "hex")));
      case "param":
        // In stored SQL (a SQLite view read by the owner) auth.* is the owner's: NULL.
        if (e.auth) return this.w.inline ? "NULL" : this.w.bindAuth(e.auth);
        if (this.w.inline) throw new DbError(SQLSTATE.undefinedParameter, `there is no parameter $${e.index}`);
        return this.w.bindParam(e.index, e.type);
      case "bin":
        return `(${this.emit(e.l)} ${e.op} ${this.emit(e.r)})`;
      case "un":
        return `(${e.op} ${this.emit(e.e)})`;
      case "fn":
        return this.fn(e);
      case "case": {
        let s = "(CASE";
        if (e.operand) s += ` ${this.emit(e.operand)}`;
        for (const [c, r] of e.whens) s += ` WHEN ${this.emit(c)} THEN ${this.emit(r)}`;
        if (e.else) s += ` ELSE ${this.emit(e.else)}`;
        return `${s} END)`;
      }
      case "cast":
        return `CAST(${this.emit(e.e)} AS ${e.sqlite})`;
      case "in":
        return `(${this.emit(e.e)} ${e.neg ? "NOT IN" : "IN"} (${e.list.map((x) => this.emit(x)).join(", ")}))`;
      case "insub":
        return `(${this.emit(e.e)} ${e.neg ? "NOT IN" : "IN"} (${this.query(e.query, this.w)}))`;
      case "between":
        return `(${this.emit(e.e)} ${e.neg ? "NOT BETWEEN" : "BETWEEN"} ${this.emit(e.lo)} AND ${this.emit(e.hi)})`;
      case "like": {
        const l = e.ci ? `lower(${this.emit(e.e)})` : this.emit(e.e);
        const p = e.ci ? `lower(${this.emit(e.pat)})` : this.emit(e.pat);
        const esc = e.esc ? this.emit(e.esc) : "'\\'";
        return `(${l} ${e.neg ? "NOT LIKE" : "LIKE"} ${p} ESCAPE ${esc})`;
      }
      case "isnull":
        return `(${this.emit(e.e)} ${e.neg ? "IS NOT NULL" : "IS NULL"})`;
      case "is": {
        const r = e.r.k === "bool" ? (e.r.value ? "TRUE" : "FALSE") : this.emit(e.r);
        return `(${this.emit(e.l)} ${e.neg ? "IS NOT" : "IS"} ${r})`;
      }
      case "exists":
        return `(${e.neg ? "NOT EXISTS" : "EXISTS"} (${this.query(e.query, this.w)}))`;
      case "subquery":
        return `(${this.query(e.query, this.w)})`;
      case "row":
        return `(${e.items.map((x) => this.emit(x)).join(", ")})`;
      case "collate":
        return `(${this.emit(e.e)} COLLATE ${e.collation})`;
      case "func": {
        const args = e.args.map((a) => this.emit(a));
        return `(${e.sql.replace(/\$(\d+)/g, (_, d: string) => args[Number(d) - 1] ?? "NULL")})`;
      }
    }
  }

  private fn(e: Extract<BExpr, { k: "fn" }>): string {
    let args = e.star ? "*" : e.args.map((a) => this.emit(a)).join(", ");
    if (e.distinct) args = `DISTINCT ${args}`;
    if (e.orderBy.length) args += ` ORDER BY ${this.sortKeys(e.orderBy)}`;
    let s = `${e.name}(${args})`;
    if (e.filter) s += ` FILTER (WHERE ${this.emit(e.filter)})`;
    if (e.over) s += ` OVER (${this.window(e.over)})`;
    return s;
  }

  window(w: WindowSpec): string {
    const parts: string[] = [];
    if (w.partitionBy.length) parts.push(`PARTITION BY ${w.partitionBy.map((x) => this.emit(x)).join(", ")}`);
    if (w.orderBy.length) parts.push(`ORDER BY ${this.sortKeys(w.orderBy)}`);
    if (w.frame) {
      const args = w.frameArgs.map((a) => this.emit(a));
      parts.push(w.frame.replace(/\$(\d+)/g, (_, d: string) => args[Number(d) - 1] ?? "0"));
    }
    return parts.join(" ");
  }

  /** ORDER BY keys with Postgres's NULL ordering made explicit (SQLite sorts NULLs first ascending). */
  sortKeys(keys: SortKey[]): string {
    return keys
      .map((k) => {
        const nullsFirst = k.nullsFirst ?? k.desc;
        const expr = k.expr.k === "num" ? k.expr.text : this.groupKey(k.expr);
        return `${expr}${k.desc ? " DESC" : " ASC"} NULLS ${nullsFirst ? "FIRST" : "LAST"}`;
      })
      .join(", ");
  }

  /**
   * A GROUP BY key, or an ORDER BY key that is an expression (the planner writes output
   * positions as plain numbers). SQLite reads an integer constant there — even `+66` or
   * `(- 2)` — as a column position; Postgres groups or sorts by the constant's value, so a
   * constant is written so SQLite sees an expression.
   */
  groupKey(e: BExpr): string {
    let x = e;
    while (x.k === "un" && (x.op === "-" || x.op === "+")) x = x.e;
    return x.k === "num" ? `(${this.emit(e)} + 0)` : this.emit(e);
  }
}
