// Bound expressions as text for EXPLAIN (Postgres-like, for people; never executed).
import type { BExpr, SortKey } from "../expr-types.ts";

function lit(s: string): string {
  return `'${s.replaceAll("'", "''")}'`;
}

export function display(e: BExpr): string {
  switch (e.k) {
    case "col":
      return e.qual ? `${e.qual}.${e.name}` : e.name;
    case "num":
      return e.text;
    case "str":
      return lit(e.value);
    case "bool":
      return e.value ? "true" : "false";
    case "null":
      return "NULL";
    case "blob":
      return `'\\x${e.hex}'::bytea`;
    case "param":
      return `$${e.index}`;
    case "bin":
      return `(${display(e.l)} ${e.op} ${display(e.r)})`;
    case "un":
      return e.op === "NOT" ? `(NOT ${display(e.e)})` : `(${e.op}${display(e.e)})`;
    case "fn": {
      const args = e.star ? "*" : `${e.distinct ? "DISTINCT " : ""}${e.args.map(display).join(", ")}`;
      return `${e.name}(${args})${e.filter ? ` FILTER (WHERE ${display(e.filter)})` : ""}${e.over ? " OVER (…)" : ""}`;
    }
    case "case":
      return `CASE${e.operand ? ` ${display(e.operand)}` : ""}${e.whens.map(([c, r]) => ` WHEN ${display(c)} THEN ${display(r)}`).join("")}${e.else ? ` ELSE ${display(e.else)}` : ""} END`;
    case "cast":
      return `(${display(e.e)})::${e.type}`;
    case "in":
      return `(${display(e.e)} ${e.neg ? "NOT IN" : "IN"} (${e.list.map(display).join(", ")}))`;
    case "insub":
      return `(${display(e.e)} ${e.neg ? "NOT IN" : "IN"} (SubPlan))`;
    case "between":
      return `(${display(e.e)} ${e.neg ? "NOT BETWEEN" : "BETWEEN"} ${display(e.lo)} AND ${display(e.hi)})`;
    case "like":
      return `(${display(e.e)} ${e.neg ? "!" : ""}${e.ci ? "~~*" : "~~"} ${display(e.pat)})`;
    case "isnull":
      return `(${display(e.e)} IS ${e.neg ? "NOT " : ""}NULL)`;
    case "is":
      return `(${display(e.l)} IS ${e.neg ? "DISTINCT FROM" : "NOT DISTINCT FROM"} ${display(e.r)})`;
    case "exists":
      return `(${e.neg ? "NOT " : ""}EXISTS (SubPlan))`;
    case "subquery":
      return "(SubPlan)";
    case "row":
      return `ROW(${e.items.map(display).join(", ")})`;
    case "collate":
      return `(${display(e.e)} COLLATE "${e.collation}")`;
    case "func":
      return `${e.sql.replace(/\$(\d+)/g, (_, d: string) => (e.args[Number(d) - 1] ? display(e.args[Number(d) - 1]!) : "NULL"))}`;
  }
}

export function displayKeys(keys: SortKey[]): string {
  return keys.map((k) => `${display(k.expr)}${k.desc ? " DESC" : ""}`).join(", ");
}
