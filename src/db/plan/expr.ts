// Binds parser expressions to BExpr: resolves names through the scope, types every node, and
// turns Postgres-only syntax (::, ILIKE, ->, now(), gen_random_uuid(), booleans) into what
// the emitter can write for SQLite. Literal casts are checked here (22P02), like Postgres.
import type { FunctionInfo } from "../catalog/catalog.ts";
import { canonicalType, isIntegerType, isKnownType, sqliteDeclType, typeFromAst, typeText } from "../catalog/types.ts";
import { DbError, featureNotSupported, SQLSTATE } from "../errors.ts";
import type { Ast } from "../parse/ast.ts";
import { firstLoc, tagOf } from "../parse/ast.ts";
import { coerceLiteral, typeDisplayName } from "./coerce.ts";
import type { PlanContext } from "./context.ts";
import { noteParamType } from "./context.ts";
import type { BExpr, SortKey, WindowSpec } from "./expr-types.ts";
import { FUNCTIONS } from "./functions.ts";
import { jsonValue, type Scope } from "./scope.ts";

/** What an expression may contain where it appears. */
export interface ExprPlace {
  /** "WHERE", "JOIN conditions", … for the 42803 message; null where aggregates are allowed. */
  noAggregates: string | null;
  /** Window functions are allowed only in the select list and ORDER BY. */
  windows: boolean;
  /** Plans a subquery (injected to avoid an import cycle with query.ts). */
  subquery: (
    q: Ast,
    scope: Scope,
  ) => { op: import("./ops/index.ts").QueryOp; columns: { name: string; type: string }[] };
  /** Named windows of the current SELECT. */
  namedWindows?: Map<string, WindowSpec>;
  /** Expands a call of a user-defined SQL function (plan/routines.ts); absent where calls are not allowed. */
  call?: (info: FunctionInfo, args: Ast[], node: Ast, binder: ExprBinder) => BExpr;
}

/** Types whose values an untyped literal is converted to when compared with them. */
const COERCED_FROM_TEXT = new Set([
  "bool",
  "uuid",
  "timestamptz",
  "timestamp",
  "date",
  "jsonb",
  "json",
  "int2",
  "int4",
  "int8",
  "float4",
  "float8",
  "numeric",
]);

const COMPARE: Record<string, string> = { Eq: "=", NotEq: "<>", Lt: "<", LtEq: "<=", Gt: ">", GtEq: ">=" };
const ARITH: Record<string, string> = { Plus: "+", Minus: "-", Multiply: "*", Divide: "/", Modulo: "%" };
const BITWISE: Record<string, string> = {
  BitwiseAnd: "&",
  BitwiseOr: "|",
  PGBitwiseShiftLeft: "<<",
  PGBitwiseShiftRight: ">>",
};

export function identName(id: Ast): string {
  const v = String(id?.value ?? "");
  return id?.quote_style ? v : v.toLowerCase();
}

function arithType(l: string, r: string): string {
  if (l === "float8" || r === "float8" || l === "float4" || r === "float4") return "float8";
  if (l === "numeric" || r === "numeric") return "numeric";
  if (l === "int8" || r === "int8") return "int8";
  if (isIntegerType(l) || isIntegerType(r))
    return isIntegerType(l) && isIntegerType(r) ? "int4" : l === "unknown" ? r : l;
  if (l === "timestamptz" || l === "timestamp" || l === "date") return l;
  return "numeric";
}

export function numberType(text: string): string {
  if (/[.eE]/.test(text)) return "numeric";
  const n = BigInt(text);
  return n <= 2147483647n ? "int4" : n <= 9223372036854775807n ? "int8" : "numeric";
}

export class ExprBinder {
  constructor(
    readonly ctx: PlanContext,
    readonly scope: Scope,
    readonly place: ExprPlace,
  ) {}

  pos(node: Ast): number {
    return this.ctx.positionOf(firstLoc(node));
  }

  /** Where `word` is written at or after `node`, as Postgres points at a type name; else the node. */
  wordPos(node: Ast, word: string): number {
    const at = this.pos(node);
    const i = at > 0 ? (this.ctx.source?.toLowerCase().indexOf(word.toLowerCase(), at - 1) ?? -1) : -1;
    return i < 0 ? at : i + 1;
  }

  with(place: Partial<ExprPlace>): ExprBinder {
    return new ExprBinder(this.ctx, this.scope, { ...this.place, ...place });
  }

  bind(node: Ast): BExpr {
    const tag = tagOf(node);
    const v = node?.[tag];
    switch (tag) {
      case "Identifier": {
        const args = this.ctx.fnArgs;
        if (!args) return this.scope.resolve(identName(v), this.ctx.positionOf(v.span?.start));
        // In a SQL function's body a column wins over an argument of the same name, as in Postgres.
        try {
          return this.scope.resolve(identName(v), this.ctx.positionOf(v.span?.start));
        } catch (e) {
          const i = args.names.indexOf(identName(v));
          if (i < 0 || !(e instanceof DbError) || e.sqlstate !== SQLSTATE.undefinedColumn) throw e;
          return args.values[i]!;
        }
      }
      case "CompoundIdentifier": {
        const parts = v as Ast[];
        const names = parts.map(identName);
        const position = this.ctx.positionOf(parts[0]?.span?.start);
        if (names.length === 2) return this.scope.resolveQualified(names[0]!, names[1]!, position);
        if (names.length === 3 && (names[0] === "public" || names[0] === "main"))
          return this.scope.resolveQualified(names[1]!, names[2]!, position);
        throw new DbError(SQLSTATE.undefinedColumn, `column ${names.join(".")} does not exist`, { position });
      }
      case "Value":
        return this.value(v.value, node);
      case "Nested":
        return this.bind(v);
      case "UnaryOp":
        return this.unary(v, node);
      case "BinaryOp":
        return this.binary(v, node);
      case "IsNull":
      case "IsNotNull":
        return { k: "isnull", e: this.bind(v), neg: tag === "IsNotNull", type: "bool" };
      case "IsTrue":
      case "IsNotTrue":
      case "IsFalse":
      case "IsNotFalse": {
        const value: BExpr = { k: "bool", value: tag === "IsTrue" || tag === "IsNotTrue", type: "bool" };
        return { k: "is", l: this.bind(v), r: value, neg: tag.startsWith("IsNot"), type: "bool" };
      }
      case "IsUnknown":
      case "IsNotUnknown":
        return { k: "isnull", e: this.bind(v), neg: tag === "IsNotUnknown", type: "bool" };
      case "IsDistinctFrom":
      case "IsNotDistinctFrom":
        return { k: "is", l: this.bind(v[0]), r: this.bind(v[1]), neg: tag === "IsDistinctFrom", type: "bool" };
      case "InList": {
        const e = this.bind(v.expr);
        const list = (v.list as Ast[]).map((x) => this.bindTyped(x, e.type));
        return { k: "in", e, list, neg: !!v.negated, type: "bool" };
      }
      case "InSubquery": {
        const e = this.bind(v.expr);
        const sub = this.place.subquery(v.subquery, this.scope);
        if (sub.columns.length !== 1 && e.k !== "row")
          throw new DbError(SQLSTATE.syntaxError, "subquery has too many columns", { position: this.pos(v.subquery) });
        return { k: "insub", e, query: sub.op, neg: !!v.negated, type: "bool" };
      }
      case "Between": {
        const e = this.bind(v.expr);
        return {
          k: "between",
          e,
          lo: this.bindTyped(v.low, e.type),
          hi: this.bindTyped(v.high, e.type),
          neg: !!v.negated,
          type: "bool",
        };
      }
      case "Like":
      case "ILike": {
        if (v.any) throw featureNotSupported("LIKE ANY", this.pos(node));
        const esc = v.escape_char ? this.value(v.escape_char, node) : null;
        return {
          k: "like",
          e: this.bind(v.expr),
          pat: this.bindTyped(v.pattern, "text"),
          esc,
          neg: !!v.negated,
          ci: tag === "ILike",
          type: "bool",
        };
      }
      case "Case": {
        const operand = v.operand ? this.bind(v.operand) : null;
        const whens: [BExpr, BExpr][] = (v.conditions as Ast[]).map((c) => [
          this.bind(c.condition),
          this.bind(c.result),
        ]);
        const els = v.else_result ? this.bind(v.else_result) : null;
        const type = [...whens.map((w) => w[1].type), els?.type ?? "unknown"].find((t) => t !== "unknown") ?? "unknown";
        return { k: "case", operand, whens, else: els, type };
      }
      case "Cast":
        return this.cast(
          this.bind(v.expr),
          typeText(typeFromAst(v.data_type)),
          node,
          v.kind === "TryCast" || v.kind === "SafeCast",
        );
      case "TypedString": {
        const lit = this.value(v.value?.value ?? v.value, node);
        return this.cast(lit, typeText(typeFromAst(v.data_type)), node, false);
      }
      case "Function":
        return this.func(v, node);
      case "Exists": {
        const sub = this.place.subquery(v.subquery, this.scope);
        return { k: "exists", query: sub.op, neg: !!v.negated, type: "bool" };
      }
      case "Subquery": {
        const sub = this.place.subquery(v, this.scope);
        if (sub.columns.length !== 1)
          throw new DbError(SQLSTATE.syntaxError, "subquery must return only one column", { position: this.pos(v) });
        return { k: "subquery", query: sub.op, type: sub.columns[0]!.type };
      }
      case "Tuple":
        return { k: "row", items: (v as Ast[]).map((x) => this.bind(x)), type: "record" };
      case "Collate": {
        const parts = (v.collation as Ast[]).map((p) => String(p?.Identifier?.value ?? p?.value ?? ""));
        const name = parts[parts.length - 1] ?? "";
        const collation = name === "C" || name.toUpperCase() === "BINARY" ? "BINARY" : name.toUpperCase();
        if (!["BINARY", "NOCASE", "RTRIM"].includes(collation))
          throw new DbError(SQLSTATE.undefinedObject, `collation "${name}" for encoding "UTF8" does not exist`, {
            position: this.pos(node),
          });
        return { k: "collate", e: this.bind(v.expr), collation, type: "text" };
      }
      case "Substring": {
        const args = [
          this.bind(v.expr),
          v.substring_from ? this.bind(v.substring_from) : { k: "num", text: "1", type: "int4" },
        ];
        if (v.substring_for) args.push(this.bind(v.substring_for));
        return {
          k: "func",
          sql: args.length === 3 ? "substr($1, $2, $3)" : "substr($1, $2)",
          args: args as BExpr[],
          type: "text",
        };
      }
      case "Trim": {
        const where = v.trim_where as string | null;
        const fn = where === "Leading" ? "ltrim" : where === "Trailing" ? "rtrim" : "trim";
        const args = [this.bind(v.expr)];
        if (v.trim_what) args.push(this.bind(v.trim_what));
        return { k: "func", sql: args.length === 2 ? `${fn}($1, $2)` : `${fn}($1)`, args, type: "text" };
      }
      case "Position":
        return { k: "func", sql: "instr($2, $1)", args: [this.bind(v.expr), this.bind(v.in)], type: "int4" };
      case "Interval": {
        const lit = this.bind(v.value);
        if (lit.k !== "str") throw featureNotSupported("an interval that is not a string literal", this.pos(node));
        const text = v.leading_field ? `${lit.value} ${String(v.leading_field).toLowerCase()}` : lit.value;
        intervalModifiers(text, this.pos(node));
        return { k: "str", value: text, type: "interval" };
      }
      case "AnyOp":
      case "AllOp":
        return this.quantified(tag === "AnyOp", v, node);
      case "Extract":
        return this.extract(String(tagOf(v.field) || v.field), this.bind(v.expr), node);
      case "Ceil":
      case "Floor":
        return { k: "func", sql: `${tag.toLowerCase()}($1)`, args: [this.bind(v.expr)], type: this.bind(v.expr).type };
      default:
        throw featureNotSupported(`expression ${tag || JSON.stringify(node).slice(0, 40)}`, this.pos(node));
    }
  }

  /** Binds an expression that should have type `type` (a literal or parameter takes it). */
  bindTyped(node: Ast, type: string): BExpr {
    const e = this.bind(node);
    if (e.k === "param") {
      noteParamType(this.ctx, e.index, type);
      return { ...e, type: type || e.type };
    }
    return this.resolveUnknown(e, type, this.pos(node));
  }

  /**
   * Postgres gives an untyped string literal the type of what it is compared with
   * (`flag = 't'`, `id = 'A0EE…'`, `at > '2024-05-01 10:00+02'`): convert it now, 22P02 if
   * it does not read as that type.
   */
  resolveUnknown(e: BExpr, type: string, position: number): BExpr {
    if (e.k !== "str" || e.type !== "unknown") return e;
    const base = type.replace(/\(.*$/, "");
    if (!COERCED_FROM_TEXT.has(base)) return e;
    return coerceLiteral(e, base, position, false) ?? e;
  }

  value(val: Ast, node: Ast): BExpr {
    const tag = tagOf(val);
    const inner = val?.[tag];
    switch (tag) {
      case "Number": {
        const text = String(Array.isArray(inner) ? inner[0] : inner);
        if (!/^(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/.test(text))
          throw new DbError(SQLSTATE.syntaxError, `syntax error at or near "${text}"`, { position: this.pos(node) });
        return { k: "num", text, type: numberType(text) };
      }
      case "SingleQuotedString":
      case "EscapedStringLiteral":
      case "NationalStringLiteral":
      case "UnicodeStringLiteral":
      case "TripleSingleQuotedString":
        return { k: "str", value: String(inner), type: "unknown" };
      case "DollarQuotedString":
        return { k: "str", value: String(inner?.value ?? ""), type: "unknown" };
      case "HexStringLiteral":
        return { k: "blob", hex: String(inner), type: "bytea" };
      case "Boolean":
        return { k: "bool", value: !!inner, type: "bool" };
      case "Null":
        return { k: "null", type: "unknown" };
      case "Placeholder": {
        const m = /^\$(\d+)$/.exec(String(inner));
        if (!m)
          throw new DbError(SQLSTATE.syntaxError, `syntax error at or near "${inner}"`, { position: this.pos(node) });
        const index = Number(m[1]);
        const fnArgs = this.ctx.fnArgs;
        if (fnArgs) {
          // $n in a SQL function's body is its n-th argument.
          const arg = fnArgs.values[index - 1];
          if (!arg) throw new DbError(SQLSTATE.undefinedParameter, `there is no parameter $${index}`);
          return arg;
        }
        if (index < 1 || index > 65535)
          throw new DbError(SQLSTATE.undefinedParameter, `there is no parameter $${index}`, {
            position: this.pos(node),
          });
        const type = this.ctx.paramTypes[index - 1] ?? "";
        this.ctx.paramPositions[index - 1] ??= this.pos(node);
        return { k: "param", index, type: type || "unknown" };
      }
      default:
        throw featureNotSupported(`literal ${tag}`, this.pos(node));
    }
  }

  unary(v: Ast, node: Ast): BExpr {
    const e = this.bind(v.expr);
    switch (v.op) {
      case "Minus":
        if (e.k === "num") return { k: "un", op: "-", e, type: e.text === "2147483648" ? "int4" : e.type };
        return { k: "un", op: "-", e, type: e.type };
      case "Plus":
        return { k: "un", op: "+", e, type: e.type };
      case "Not":
        return { k: "un", op: "NOT", e, type: "bool" };
      case "BitwiseNot":
      case "PGBitwiseNot":
        return { k: "un", op: "~", e, type: e.type };
      default:
        throw featureNotSupported(`operator ${v.op}`, this.pos(node));
    }
  }

  binary(v: Ast, node: Ast): BExpr {
    const op = v.op as string;
    let l = this.bind(v.left);
    let r = this.bind(v.right);
    // A parameter compared with a typed expression takes its type.
    if (l.k === "param" && r.type !== "unknown") noteParamType(this.ctx, l.index, r.type);
    if (r.k === "param" && l.type !== "unknown") noteParamType(this.ctx, r.index, l.type);
    if (COMPARE[op]) {
      l = this.resolveUnknown(l, r.type, this.pos(v.left));
      r = this.resolveUnknown(r, l.type, this.pos(v.right));
      // A computed interval (timestamp - timestamp) is seconds; a literal one compared with it
      // becomes seconds too.
      const secs = (x: BExpr, other: BExpr): BExpr =>
        x.k === "str" && x.type === "interval" && other.type === "interval" && other.k !== "str"
          ? { k: "num", text: String(intervalSeconds(x.value, this.pos(node))), type: "numeric" }
          : x;
      return { k: "bin", op: COMPARE[op]!, l: secs(l, r), r: secs(r, l), type: "bool" };
    }
    if (op === "Minus" && l.type === "date" && r.type === "date")
      return { k: "func", sql: "CAST(julianday($1) - julianday($2) AS INTEGER)", args: [l, r], type: "int4" };
    if (op === "Minus" && isTimestamp(l.type) && isTimestamp(r.type)) {
      const at = "unixepoch((CASE WHEN $N LIKE '%+00' THEN substr($N, 1, length($N) - 3) ELSE $N END), 'subsec')";
      return {
        k: "func",
        sql: `(${at.replaceAll("$N", "$1")} - ${at.replaceAll("$N", "$2")})`,
        args: [l, r],
        type: "interval",
      };
    }
    if (op === "And" || op === "Or") return { k: "bin", op: op.toUpperCase(), l, r, type: "bool" };
    if ((op === "Plus" || op === "Minus") && (r.type === "interval" || (l.type === "interval" && op === "Plus"))) {
      const [ts, iv] = r.type === "interval" ? [l, r] : [r, l];
      if (iv.k !== "str") throw featureNotSupported("interval arithmetic with a computed interval", this.pos(node));
      const mods = intervalModifiers(iv.value, this.pos(node)).map((m) => (op === "Minus" ? negate(m) : m));
      const type = ts.type === "timestamp" || ts.type === "date" ? ts.type : "timestamptz";
      const fmt = type === "date" ? "%Y-%m-%d" : type === "timestamp" ? "%Y-%m-%d %H:%M:%f" : "%Y-%m-%d %H:%M:%f+00";
      return {
        k: "func",
        sql: `strftime('${fmt}', (CASE WHEN $1 LIKE '%+00' THEN substr($1, 1, length($1) - 3) ELSE $1 END)${mods.map((m) => `, '${m}'`).join("")})`,
        args: [ts],
        type,
      };
    }
    if (ARITH[op]) return { k: "bin", op: ARITH[op]!, l, r, type: arithType(l.type, r.type) };
    if (op === "StringConcat") {
      if (l.type === "jsonb" || r.type === "jsonb")
        return { k: "func", sql: "json_patch($1, $2)", args: [l, r], type: "jsonb" };
      return { k: "bin", op: "||", l, r, type: "text" };
    }
    if (BITWISE[op]) return { k: "bin", op: BITWISE[op]!, l, r, type: arithType(l.type, r.type) };
    if (op === "PGBitwiseXor" || op === "BitwiseXor")
      return { k: "func", sql: "(($1 | $2) - ($1 & $2))", args: [l, r], type: arithType(l.type, r.type) };
    if (op === "HashArrow" || op === "HashLongArrow" || op === "Question") {
      if (r.k !== "str")
        throw featureNotSupported(`${op === "Question" ? "?" : "#>"} with a computed path`, this.pos(node));
      const path = op === "Question" ? `$.${jsonKey(r.value)}` : jsonPath(r.value, this.pos(node));
      const p: BExpr = { k: "str", value: path, type: "text" };
      if (op === "Question")
        return {
          k: "func",
          sql: "(CASE WHEN $1 IS NULL THEN NULL ELSE json_type($1, $2) IS NOT NULL END)",
          args: [l, p],
          type: "bool",
        };
      return op === "HashArrow"
        ? { k: "bin", op: "->", l, r: p, type: l.type === "json" ? "json" : "jsonb" }
        : jsonText(l, p);
    }
    if (op === "Arrow") return { k: "bin", op: "->", l, r, type: l.type === "json" ? "json" : "jsonb" };
    if (op === "LongArrow") return jsonText(l, r);
    if (op === "PGExp") return { k: "func", sql: "power($1, $2)", args: [l, r], type: "float8" };
    if (op === "PGRegexMatch" || op === "PGRegexNotMatch")
      return { k: "func", sql: `${op === "PGRegexNotMatch" ? "NOT " : ""}($1 REGEXP $2)`, args: [l, r], type: "bool" };
    if (op === "PGRegexIMatch" || op === "PGRegexNotIMatch")
      return {
        k: "func",
        sql: `${op === "PGRegexNotIMatch" ? "NOT " : ""}(lower($1) REGEXP lower($2))`,
        args: [l, r],
        type: "bool",
      };
    if (op === "Xor") return { k: "func", sql: "((($1) <> 0) <> (($2) <> 0))", args: [l, r], type: "bool" };
    throw new DbError(SQLSTATE.undefinedFunction, `operator does not exist: ${l.type} ${op} ${r.type}`, {
      position: this.pos(node),
      hint: "No operator matches the given name and argument types.",
    });
  }

  cast(e: BExpr, target: string, node: Ast, lenient: boolean): BExpr {
    const type = canonicalType(target.replace(/\(.*$/, "")) + (target.match(/\(.*$/)?.[0] ?? "");
    const base = type.replace(/\(.*$/, "");
    if (!isKnownType(base)) {
      const name = target.replace(/\(.*$/, "");
      throw new DbError(SQLSTATE.undefinedObject, `type "${name}" does not exist`, { position: this.wordPos(node, name) });
    }
    if (e.k === "param") {
      noteParamType(this.ctx, e.index, base);
      return { ...e, type: base };
    }
    if (e.k === "str" || e.k === "num" || e.k === "bool" || e.k === "null") {
      const lit = coerceLiteral(e, base, this.pos(node), lenient);
      if (lit) return lit;
    }
    if (e.k === "un" && e.op === "-" && e.e.k === "num" && isIntegerType(base) && !/[.eE]/.test(e.e.text))
      return { ...e, type: base };
    if (base === "interval") {
      if (e.k !== "str") throw featureNotSupported("casting a computed value to interval", this.pos(node));
      intervalModifiers(e.value, this.pos(node));
      return { k: "str", value: e.value, type: "interval" };
    }
    switch (base) {
      case "bool":
        return {
          k: "func",
          sql: "(CASE WHEN $1 IS NULL THEN NULL WHEN lower(CAST($1 AS TEXT)) IN ('t','true','yes','on','1','y') THEN 1 WHEN lower(CAST($1 AS TEXT)) IN ('f','false','no','off','0','n') THEN 0 ELSE CAST($1 AS INTEGER) <> 0 END)",
          args: [e],
          type: "bool",
        };
      case "timestamptz":
      case "timestamp":
        // Stored values end in "+00", which SQLite's date functions do not read.
        return {
          k: "func",
          sql: `strftime('%Y-%m-%d %H:%M:%f${base === "timestamptz" ? "+00" : ""}', CASE WHEN $1 LIKE '%+00' THEN substr($1, 1, length($1) - 3) ELSE $1 END)`,
          args: [e],
          type: base,
        };
      case "date":
        return { k: "func", sql: "date($1)", args: [e], type: base };
      case "jsonb":
      case "json":
        return { k: "func", sql: "json($1)", args: [e], type: base };
      case "text":
      case "varchar":
      case "bpchar":
      case "uuid":
        if (e.type === "bool")
          return { k: "func", sql: "(CASE $1 WHEN 1 THEN 'true' WHEN 0 THEN 'false' END)", args: [e], type: "text" };
        return { k: "cast", e, sqlite: "TEXT", type: base };
      default:
        return { k: "cast", e, sqlite: sqliteDeclType(base), type: base };
    }
  }

  func(v: Ast, node: Ast): BExpr {
    const nameParts = (v.name as Ast[]).map((p) => identName(p?.Identifier ?? p));
    const name = nameParts[nameParts.length - 1] ?? "";
    const position = this.pos(node);
    if (nameParts.length === 2 && nameParts[0] === "auth") {
      // Supabase's auth.uid() / auth.role() / auth.jwt(): the request's values, bound per
      // execution (never written into the SQL), so one plan serves every user of a role.
      const types: Record<string, string> = { uid: "uuid", role: "text", jwt: "jsonb" };
      const argCount = (v.args && typeof v.args === "object" ? (v.args.List?.args ?? []) : []).length;
      if (types[name] && argCount === 0)
        return { k: "param", index: 0, type: types[name]!, auth: name as "uid" | "role" | "jwt" };
    }
    if (nameParts.length > 1 && !["pg_catalog", "public"].includes(nameParts[0]!))
      throw new DbError(SQLSTATE.undefinedFunction, `function ${nameParts.join(".")} does not exist`, { position });
    const def = FUNCTIONS[name];
    const list = v.args && typeof v.args === "object" ? v.args.List : null;
    const rawArgs: Ast[] = list?.args ?? [];
    const user = def ? undefined : this.ctx.catalog.function(name);
    if (user) {
      if (v.over || v.filter || list?.duplicate_treatment || list?.clauses?.length)
        throw featureNotSupported(`OVER, FILTER, DISTINCT or ORDER BY in a call of ${name}`, position);
      if (!this.place.call) throw featureNotSupported(`calling function ${name} here`, position);
      return this.place.call(user, rawArgs, node, this);
    }
    let star = false;
    const args: BExpr[] = [];
    const isAgg = !!def?.agg;
    const inner = isAgg ? this.with({ noAggregates: "aggregate function calls", windows: false }) : this;
    for (const a of rawArgs) {
      const t = tagOf(a);
      const x = a[t];
      if (t === "Unnamed" && x === "Wildcard") {
        star = true;
        continue;
      }
      const expr = t === "Unnamed" ? x?.Expr : t === "Named" || t === "ExprNamed" ? x?.arg?.Unnamed?.Expr : null;
      if (!expr) throw featureNotSupported(`argument form ${t}`, position);
      args.push(inner.bind(expr));
    }
    const types = args.map((a) => a.type);
    const signature = `${nameParts.join(".")}(${types.map((t) => typeDisplayName(t.replace(/\(.*$/, ""))).join(", ")})`;
    if (!def || (star && name !== "count")) {
      throw new DbError(SQLSTATE.undefinedFunction, `function ${signature} does not exist`, {
        position,
        hint: "No function matches the given name and argument types. You might need to add explicit type casts.",
      });
    }
    if (
      (def.minArgs !== undefined && args.length < def.minArgs && !star) ||
      (def.maxArgs !== undefined && args.length > def.maxArgs)
    ) {
      throw new DbError(SQLSTATE.undefinedFunction, `function ${signature} does not exist`, { position });
    }
    const over = v.over ? this.window(v.over, position) : null;
    if (over && !def.window && !isAgg)
      throw new DbError(
        SQLSTATE.wrongObjectType,
        `OVER specified, but ${name} is not a window function nor an aggregate function`,
        {
          position,
        },
      );
    if (over && list?.duplicate_treatment === "Distinct")
      throw new DbError(SQLSTATE.featureNotSupported, "DISTINCT is not implemented for window functions", { position });
    if (over && !this.place.windows)
      throw new DbError(
        SQLSTATE.windowingError,
        `window functions are not allowed in ${this.place.noAggregates ?? "this place"}`,
        { position },
      );
    if (def.window && !over)
      throw new DbError(SQLSTATE.windowingError, `window function ${name} requires an OVER clause`, { position });
    if (isAgg && !over && this.place.noAggregates)
      throw new DbError(SQLSTATE.groupingError, `aggregate functions are not allowed in ${this.place.noAggregates}`, {
        position,
      });
    const distinct = list?.duplicate_treatment === "Distinct";
    const filter = v.filter ? this.with({ noAggregates: "FILTER", windows: false }).bind(v.filter) : null;
    const orderBy: SortKey[] = [];
    for (const c of (list?.clauses as Ast[] | undefined) ?? []) {
      if (tagOf(c) === "OrderBy") for (const k of c.OrderBy as Ast[]) orderBy.push(this.sortKey(k));
      else throw featureNotSupported(`function clause ${tagOf(c)}`, position);
    }
    if (orderBy.length && !isAgg)
      throw new DbError(SQLSTATE.wrongObjectType, `ORDER BY specified, but ${name} is not an aggregate function`, {
        position,
      });
    if (list?.duplicate_treatment === "Distinct" && args.length > 1) {
      // SQLite's DISTINCT aggregates take one argument: string_agg(DISTINCT x, ',') keeps the
      // default separator; any other separator cannot be expressed.
      const sep = args[1]!;
      if (def.sqlite === "group_concat" && sep.k === "str" && sep.value === ",") args.length = 1;
      else throw featureNotSupported(`${name}(DISTINCT …) with more than one argument`, position);
    }
    if (name === "to_json" || name === "to_jsonb" || name === "row_to_json") {
      const a = args[0]!;
      const t = a.type.replace(/\(.*$/, "");
      const v = t === "json" || t === "jsonb" || t === "bool" || t === "record" ? jsonValue(a) : null;
      const type = name === "to_jsonb" ? "jsonb" : "json";
      return v
        ? { k: "func", sql: "json($1)", args: [v], type }
        : { k: "func", sql: "json_quote($1)", args: [a], type };
    }
    if (["json_agg", "jsonb_agg", "json_build_array", "jsonb_build_array"].includes(name))
      args.splice(0, args.length, ...args.map(jsonValue));
    if (["json_build_object", "jsonb_build_object", "json_object_agg", "jsonb_object_agg"].includes(name))
      args.splice(0, args.length, ...args.map((a, i) => (i % 2 === 1 ? jsonValue(a) : a)));
    if (name === "date_trunc") return this.dateTrunc(args, position);
    // SQLite's coalesce() wants two arguments; Postgres's takes one.
    if (name === "coalesce" && args.length === 1) return { ...args[0]!, type: args[0]!.type };
    if (def.sqlite.includes("(")) return { k: "func", sql: def.sqlite, args, type: def.ret(types) };
    return {
      k: "fn",
      name: def.sqlite,
      args,
      star,
      distinct,
      filter,
      over,
      orderBy,
      agg: isAgg && !over,
      type: def.ret(types),
    };
  }

  /**
   * x op ANY($1) / x op ALL($1) with a JS array bound as JSON and read with json_each, or
   * with a subquery. `= ANY` is IN and `<> ALL` is NOT IN, which keeps Postgres's NULL rules.
   */
  quantified(any: boolean, v: Ast, node: Ast): BExpr {
    const ops: Record<string, string> = { Eq: "=", NotEq: "<>", Lt: "<", LtEq: "<=", Gt: ">", GtEq: ">=" };
    const op = ops[String(v.compare_op)];
    if (!op) throw featureNotSupported(`${v.compare_op} ${any ? "ANY" : "ALL"}`, this.pos(node));
    const l = this.bind(v.left);
    const rightNode = tagOf(v.right) === "Nested" ? v.right.Nested : v.right;
    if (tagOf(rightNode) === "Subquery") {
      const sub = this.place.subquery(rightNode.Subquery, this.scope);
      if (sub.columns.length !== 1)
        throw new DbError(SQLSTATE.syntaxError, "subquery has too many columns", { position: this.pos(rightNode) });
      if ((any && op === "=") || (!any && op === "<>"))
        return { k: "insub", e: l, query: sub.op, neg: !any, type: "bool" };
      throw featureNotSupported(`${op} ${any ? "ANY" : "ALL"} (subquery)`, this.pos(node));
    }
    const r = this.bind(rightNode);
    if (r.k !== "param")
      throw featureNotSupported(`${any ? "ANY" : "ALL"} over anything but a parameter or subquery`, this.pos(node));
    noteParamType(this.ctx, r.index, "array");
    const arr: BExpr = { ...r, type: "array" };
    const each = "(SELECT value FROM json_each($2))";
    if (any && op === "=") return { k: "func", sql: `$1 IN ${each}`, args: [l, arr], type: "bool" };
    if (!any && op === "<>") return { k: "func", sql: `$1 NOT IN ${each}`, args: [l, arr], type: "bool" };
    return any
      ? { k: "func", sql: `EXISTS (SELECT 1 FROM json_each($2) WHERE $1 ${op} value)`, args: [l, arr], type: "bool" }
      : {
          k: "func",
          sql: `NOT EXISTS (SELECT 1 FROM json_each($2) WHERE NOT ($1 ${op} value))`,
          args: [l, arr],
          type: "bool",
        };
  }

  /** date_trunc('unit', ts) with a literal unit, as timestamp text in cave's format. */
  dateTrunc(args: BExpr[], position: number): BExpr {
    const unit = args[0]?.k === "str" ? args[0].value.toLowerCase() : "";
    const fmt: Record<string, string> = {
      year: "%Y-01-01 00:00:00.000",
      month: "%Y-%m-01 00:00:00.000",
      day: "%Y-%m-%d 00:00:00.000",
      hour: "%Y-%m-%d %H:00:00.000",
      minute: "%Y-%m-%d %H:%M:00.000",
      second: "%Y-%m-%d %H:%M:%S.000",
    };
    if (!fmt[unit])
      throw featureNotSupported(`date_trunc unit ${unit ? `"${unit}"` : "that is not a literal"}`, position);
    const type = args[1]?.type === "timestamp" ? "timestamp" : "timestamptz";
    const suffix = type === "timestamptz" ? "+00" : "";
    return {
      k: "func",
      sql: `strftime('${fmt[unit]}${suffix}', (CASE WHEN $1 LIKE '%+00' THEN substr($1, 1, length($1) - 3) ELSE $1 END))`,
      args: [args[1]!],
      type,
    };
  }

  /** EXTRACT(field FROM ts) over cave's timestamp text, through SQLite's strftime. */
  extract(field: string, e: BExpr, node: Ast): BExpr {
    const ts = "(CASE WHEN $1 LIKE '%+00' THEN substr($1, 1, length($1) - 3) ELSE $1 END)";
    const fmt: Record<string, string> = {
      year: "%Y",
      month: "%m",
      day: "%d",
      hour: "%H",
      minute: "%M",
      dow: "%w",
      doy: "%j",
    };
    const f = field.toLowerCase();
    if (fmt[f]) return { k: "func", sql: `CAST(strftime('${fmt[f]}', ${ts}) AS INTEGER)`, args: [e], type: "numeric" };
    if (f === "second") return { k: "func", sql: `CAST(strftime('%f', ${ts}) AS REAL)`, args: [e], type: "numeric" };
    if (f === "epoch") {
      // A computed interval already is seconds.
      if (e.type === "interval" && e.k !== "str") return { ...e, type: "numeric" };
      if (e.type === "interval" && e.k === "str")
        return { k: "num", text: String(intervalSeconds(e.value, this.pos(node))), type: "numeric" };
      return { k: "func", sql: `unixepoch(${ts}, 'subsec')`, args: [e], type: "numeric" };
    }
    throw featureNotSupported(`EXTRACT(${field})`, this.pos(node));
  }

  sortKey(k: Ast): SortKey {
    const o = k.options ?? {};
    return {
      expr: this.bind(k.expr),
      desc: o.asc === false,
      nullsFirst: typeof o.nulls_first === "boolean" ? o.nulls_first : null,
    };
  }

  window(over: Ast, position: number): WindowSpec {
    if (tagOf(over) === "NamedWindow") {
      const name = identName(over.NamedWindow);
      const spec = this.place.namedWindows?.get(name);
      if (!spec) throw new DbError(SQLSTATE.undefinedObject, `window "${name}" does not exist`, { position });
      return spec;
    }
    const s = over.WindowSpec ?? {};
    if (s.window_name) {
      const base = this.place.namedWindows?.get(identName(s.window_name));
      if (!base)
        throw new DbError(SQLSTATE.undefinedObject, `window "${identName(s.window_name)}" does not exist`, {
          position,
        });
      return { ...base, orderBy: (s.order_by ?? []).length ? this.windowSpec(s).orderBy : base.orderBy };
    }
    return this.windowSpec(s);
  }

  windowSpec(s: Ast): WindowSpec {
    const b = this.with({ windows: false, noAggregates: null });
    const partitionBy = ((s.partition_by ?? []) as Ast[]).map((e) => b.bind(e));
    const orderBy = ((s.order_by ?? []) as Ast[]).map((k) => b.sortKey(k));
    let frame = "";
    const frameArgs: BExpr[] = [];
    const f = s.window_frame;
    if (f) {
      const bound = (x: Ast): string => {
        if (x === "CurrentRow") return "CURRENT ROW";
        const t = tagOf(x);
        const dir = t === "Preceding" ? "PRECEDING" : "FOLLOWING";
        if (x[t] === null || x[t] === undefined) return `UNBOUNDED ${dir}`;
        frameArgs.push(b.bind(x[t]));
        return `$${frameArgs.length} ${dir}`;
      };
      const units = String(f.units).toUpperCase();
      frame = f.end_bound
        ? `${units} BETWEEN ${bound(f.start_bound)} AND ${bound(f.end_bound)}`
        : `${units} ${bound(f.start_bound)}`;
    }
    return { partitionBy, orderBy, frame, frameArgs };
  }
}

/** Whether an expression contains an aggregate call (not a window), outside subqueries. */
export function hasAggregate(e: BExpr): boolean {
  switch (e.k) {
    case "fn":
      return e.agg || e.args.some(hasAggregate);
    case "bin":
      return hasAggregate(e.l) || hasAggregate(e.r);
    case "un":
    case "cast":
    case "collate":
    case "isnull":
      return hasAggregate(e.e);
    case "case":
      return (
        (e.operand ? hasAggregate(e.operand) : false) ||
        e.whens.some(([c, r]) => hasAggregate(c) || hasAggregate(r)) ||
        (e.else ? hasAggregate(e.else) : false)
      );
    case "in":
      return hasAggregate(e.e) || e.list.some(hasAggregate);
    case "insub":
      return hasAggregate(e.e);
    case "between":
      return hasAggregate(e.e) || hasAggregate(e.lo) || hasAggregate(e.hi);
    case "like":
      return hasAggregate(e.e) || hasAggregate(e.pat);
    case "is":
      return hasAggregate(e.l) || hasAggregate(e.r);
    case "row":
      return e.items.some(hasAggregate);
    case "func":
      return e.args.some(hasAggregate);
    case "col":
    case "num":
    case "str":
    case "bool":
    case "null":
    case "blob":
    case "param":
    case "exists":
    case "subquery":
      return false;
  }
}

const INTERVAL_UNITS: Record<string, [string, number]> = {
  year: ["years", 1],
  mon: ["months", 1],
  month: ["months", 1],
  week: ["days", 7],
  day: ["days", 1],
  hour: ["hours", 1],
  min: ["minutes", 1],
  minute: ["minutes", 1],
  sec: ["seconds", 1],
  second: ["seconds", 1],
};

/**
 * An interval's text ('1 day 2 hours', '-3 mons', '01:30:00') as SQLite date modifiers
 * ('+1 days', '+2 hours'); 22007 when it does not read as one.
 */
export function intervalModifiers(text: string, position: number): string[] {
  const mods: string[] = [];
  let rest = text.trim().toLowerCase();
  const clock = /(-?)(\d+):(\d{2})(?::(\d{2}(?:\.\d+)?))?$/.exec(rest);
  if (clock) {
    const sign = clock[1] === "-" ? -1 : 1;
    mods.push(`${sign * Number(clock[2]) >= 0 ? "+" : ""}${sign * Number(clock[2])} hours`);
    mods.push(`${sign >= 0 ? "+" : "-"}${Number(clock[3])} minutes`);
    if (clock[4]) mods.push(`${sign >= 0 ? "+" : "-"}${Number(clock[4])} seconds`);
    rest = rest.slice(0, clock.index).trim();
  }
  const re = /^([+-]?\d+(?:\.\d+)?)\s*([a-z]+?)s?(?:\s+|$)/;
  while (rest) {
    const m = re.exec(rest);
    const unit = m ? INTERVAL_UNITS[m[2]!] : undefined;
    if (!m || !unit) throw new DbError("22007", `invalid input syntax for type interval: "${text}"`, { position });
    const n = Number(m[1]) * unit[1];
    mods.push(`${n >= 0 ? "+" : ""}${n} ${unit[0]}`);
    rest = rest.slice(m[0].length).trim();
  }
  if (!mods.length) throw new DbError("22007", `invalid input syntax for type interval: "${text}"`, { position });
  return mods;
}

function negate(mod: string): string {
  return mod.startsWith("-") ? `+${mod.slice(1)}` : `-${mod.replace(/^\+/, "")}`;
}

function jsonKey(key: string): string {
  return `"${key.replaceAll("\\", "\\\\").replaceAll('"', '\\"')}"`;
}

/** A Postgres text-array path ('{a,0,b}') as a SQLite JSON path ('$."a"[0]."b"'). */
/**
 * Postgres's ->> and #>>: the element as text, always. SQLite's ->> gives the SQL value instead
 * (2 for a number, 1 for true); Postgres gives '2' and 'true'. A string comes unquoted, JSON
 * null is NULL, anything else is its JSON text.
 */
function jsonText(l: BExpr, r: BExpr): BExpr {
  return {
    k: "func",
    sql: "(CASE json_type($1 -> $2) WHEN 'text' THEN $1 ->> $2 WHEN 'null' THEN NULL ELSE $1 -> $2 END)",
    args: [l, r],
    type: "text",
  };
}

function jsonPath(text: string, position: number): string {
  const t = text.trim();
  if (!t.startsWith("{") || !t.endsWith("}"))
    throw new DbError(SQLSTATE.invalidTextRepresentation, `malformed array literal: "${text}"`, { position });
  const inner = t.slice(1, -1).trim();
  const parts = inner === "" ? [] : inner.split(",").map((x) => x.trim().replace(/^"(.*)"$/s, "$1"));
  return `$${parts.map((p) => (/^-?\d+$/.test(p) ? `[${p}]` : `.${jsonKey(p)}`)).join("")}`;
}

function isTimestamp(t: string): boolean {
  return t === "timestamptz" || t === "timestamp";
}

const SECONDS: Record<string, number> = {
  years: 365.25 * 86400,
  months: 30 * 86400,
  days: 86400,
  hours: 3600,
  minutes: 60,
  seconds: 1,
};

/** An interval literal in seconds, as Postgres's EXTRACT(epoch) counts it (a month is 30 days). */
export function intervalSeconds(text: string, position: number): number {
  let total = 0;
  for (const m of intervalModifiers(text, position)) {
    const [n, unit] = m.split(" ");
    total += Number(n) * (SECONDS[unit!] ?? 0);
  }
  return total;
}
