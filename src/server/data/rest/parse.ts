// PostgREST's query-string language, parsed into plain data: `select=` trees with embedded
// relations, horizontal filters (with not., or=(…)/and=(…) nesting and quoted values), order,
// limit/offset, `columns=` and `on_conflict=`, each also per embedded path (`rel.limit=`).
// Pure: no schema here; names are checked against the catalog by the translator (build.ts).
import { badRequest, RestError } from "./errors.ts";

/** A step into a JSON column: `->key` (JSON) or `->>key` (text); a key of digits indexes an array. */
export interface JsonStep {
  arrow: "->" | "->>";
  key: string;
}

export type SelectItem =
  | { kind: "star" }
  | {
      kind: "column";
      name: string;
      alias: string | null;
      /** `data->a->>b`: the steps after the column; [] for the column itself. */
      path: JsonStep[];
      /** `::int`: a type name to cast to; null for none. */
      cast: string | null;
    }
  | {
      kind: "embed";
      relation: string;
      alias: string | null;
      /** A foreign key's name or column (`rel!fkey(…)`); null when none. */
      hint: string | null;
      /** `!inner`: keep only parents that have a matching embedded row. */
      inner: boolean;
      select: SelectItem[];
    };

export const OPERATORS = ["eq", "neq", "gt", "gte", "lt", "lte", "like", "ilike", "is", "in", "isdistinct"] as const;
export type Operator = (typeof OPERATORS)[number];

export type Filter =
  | {
      kind: "op";
      column: string;
      /** `data->>a=eq.x`: the JSON steps after the column; [] for the column itself. */
      path: JsonStep[];
      op: Operator;
      negate: boolean;
      /** like/ilike/eq… with (any) or (all) take a list of values. */
      quantifier: "any" | "all" | null;
      value: string | string[];
    }
  | { kind: "logic"; op: "and" | "or"; negate: boolean; children: Filter[] };

export interface OrderTerm {
  column: string;
  path: JsonStep[];
  desc: boolean;
  nulls: "first" | "last" | null;
}

/** What applies to one resource: the root (path "") or an embedded one ("rel", "rel.sub"). */
export interface ResourceOptions {
  filters: Filter[];
  order: OrderTerm[];
  limit: number | null;
  offset: number | null;
}

export interface ParsedQuery {
  select: SelectItem[];
  /** Keyed by embedded path ("" for the root), names as written (alias if given). */
  resources: Map<string, ResourceOptions>;
  columns: string[] | null;
  onConflict: string[] | null;
}

const RESERVED = new Set([
  "select",
  "order",
  "limit",
  "offset",
  "columns",
  "on_conflict",
  "or",
  "and",
  "not.or",
  "not.and",
]);

function emptyOptions(): ResourceOptions {
  return { filters: [], order: [], limit: null, offset: null };
}

/** Splits at top-level commas, keeping parenthesised groups and double-quoted strings whole. */
export function splitTop(text: string, what: string): string[] {
  const out: string[] = [];
  let depth = 0;
  let quoted = false;
  let start = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (quoted) {
      if (c === "\\") i++;
      else if (c === '"') quoted = false;
      continue;
    }
    if (c === '"') quoted = true;
    else if (c === "(") depth++;
    else if (c === ")") {
      depth--;
      if (depth < 0) throw badRequest(`failed to parse ${what}: unexpected ")"`, text);
    } else if (c === "," && depth === 0) {
      out.push(text.slice(start, i));
      start = i + 1;
    }
  }
  if (quoted) throw badRequest(`failed to parse ${what}: unclosed double quote`, text);
  if (depth !== 0) throw badRequest(`failed to parse ${what}: unclosed "("`, text);
  out.push(text.slice(start));
  return out;
}

/** A value as written: `"a,b"` → a,b (with \" and \\ unescaped); anything else as is. */
export function unquote(text: string): string {
  if (text.length >= 2 && text.startsWith('"') && text.endsWith('"')) return text.slice(1, -1).replace(/\\(.)/g, "$1");
  return text;
}

/** An identifier: bare (letters, digits, _, $, space-free) or double-quoted. */
function identifier(text: string, what: string): string {
  const t = text.trim();
  if (t.startsWith('"')) {
    if (!t.endsWith('"') || t.length < 2) throw badRequest(`failed to parse ${what}: unclosed double quote`, text);
    return t.slice(1, -1).replace(/""/g, '"').replace(/\\(.)/g, "$1");
  }
  if (!/^[A-Za-z_][A-Za-z0-9_$ -]*$/.test(t)) {
    if (t.includes("::")) throw badRequest(`failed to parse ${what}: casts (::) are only taken in select`, text);
    throw badRequest(`failed to parse ${what}: ${JSON.stringify(t)} is not a column name`, text);
  }
  return t;
}

/** A JSON key: double-quoted (any text), or bare: no spaces, quotes, dots, commas, colons or parentheses. */
const JSON_STEP = /^(->>?)("(?:[^"\\]|\\.)*"|[^\s"'(),.:>-]+(?:-(?!>)[^\s"'(),.:>-]*)*)/;

/**
 * A column as select=, filters and order= name it: `col`, `"my col"`, or with JSON steps,
 * `data->a->>b`, `data->items->0` (PostgREST's JSON paths).
 */
export function columnRef(text: string, what: string): { name: string; path: JsonStep[] } {
  const t = text.trim();
  let end = 0;
  if (t.startsWith('"')) {
    end = 1;
    // to the closing quote: "" and \" inside are part of the name
    while (end < t.length && (t[end] !== '"' || t[end + 1] === '"')) end += t[end] === "\\" || t[end] === '"' ? 2 : 1;
    end++;
  } else {
    end = t.indexOf("->");
    if (end === -1) end = t.length;
  }
  const name = identifier(t.slice(0, end), what);
  const path: JsonStep[] = [];
  let rest = t.slice(end);
  while (rest !== "") {
    const m = JSON_STEP.exec(rest);
    if (!m) throw badRequest(`failed to parse ${what}: ${JSON.stringify(rest)} is not a JSON path step (->key or ->>key)`, text);
    path.push({ arrow: m[1] as "->" | "->>", key: unquote(m[2] as string) });
    rest = rest.slice(m[0].length);
  }
  return { name, path };
}

/** `head::type` → the head and the type (a bare type name, as `int`, `text`, `float8`, `timestamptz`). */
function castOf(head: string, whole: string): [string, string | null] {
  const i = head.lastIndexOf("::");
  if (i === -1) return [head, null];
  const type = head.slice(i + 2).trim();
  if (!/^[A-Za-z_][A-Za-z0-9_]*(\[\])?$/.test(type))
    throw badRequest(`failed to parse select: ${JSON.stringify(type)} is not a type name`, whole, "e.g. col::text, data->>n::int");
  return [head.slice(0, i), type.toLowerCase()];
}

export function parseSelect(text: string): SelectItem[] {
  if (text.trim() === "") return [{ kind: "star" }];
  return splitTop(text, "select").map((part) => parseSelectItem(part.trim(), text));
}

function parseSelectItem(part: string, whole: string): SelectItem {
  if (part === "") throw badRequest("failed to parse select: an empty item", whole);
  if (part === "*") return { kind: "star" };
  if (part.startsWith("...")) throw badRequest("failed to parse select: spread embedding (...) is not supported", part);
  const open = part.indexOf("(");
  let head = open === -1 ? part : part.slice(0, open);
  let alias: string | null = null;
  // alias:column, not the :: of a cast
  const colon = head.search(/(?<!:):(?!:)/);
  if (colon > 0) {
    alias = identifier(head.slice(0, colon), "select");
    head = head.slice(colon + 1);
  }
  if (open === -1) {
    if (head.includes("!"))
      throw badRequest(`failed to parse select: ${JSON.stringify(part)} has a hint (!) but no "(columns)"`, whole);
    const [ref, cast] = castOf(head, whole);
    const { name, path } = columnRef(ref, "select");
    return { kind: "column", name, alias, path, cast };
  }
  if (!part.endsWith(")")) throw badRequest(`failed to parse select: ${JSON.stringify(part)} must end with ")"`, whole);
  const inner = part.slice(open + 1, -1);
  const [relText, ...bangs] = head.split("!");
  const relation = identifier(relText ?? "", "select");
  let hint: string | null = null;
  let isInner = false;
  for (const b of bangs) {
    if (b === "inner") isInner = true;
    else if (b === "left") isInner = false;
    else if (hint === null) hint = identifier(b, "select");
    else throw badRequest(`failed to parse select: two hints in ${JSON.stringify(head)}`, whole);
  }
  if (inner.trim() === "" && relation === "count")
    throw badRequest("failed to parse select: aggregate functions are not supported", part);
  return { kind: "embed", relation, alias, hint, inner: isInner, select: parseSelect(inner) };
}

/** `op.value`, `not.op.value`, `op(any).{a,b}`: one condition on `column` (and its JSON path). */
export function parseCondition(column: string, text: string, path: JsonStep[] = []): Filter {
  let rest = text;
  let negate = false;
  if (rest.startsWith("not.")) {
    negate = true;
    rest = rest.slice(4);
  }
  const dot = rest.indexOf(".");
  if (dot === -1) throw badRequest(`failed to parse filter (${text}): expected operator.value`, `${column}=${text}`);
  let opText = rest.slice(0, dot);
  const value = rest.slice(dot + 1);
  let quantifier: "any" | "all" | null = null;
  const q = /^(\w+)\((any|all)\)$/.exec(opText);
  if (q) {
    opText = q[1]!;
    quantifier = q[2] as "any" | "all";
  }
  if (!(OPERATORS as readonly string[]).includes(opText)) {
    throw badRequest(
      `failed to parse filter (${text}): unknown or unsupported operator "${opText}"`,
      `${column}=${text}`,
      `supported: ${OPERATORS.join(", ")}`,
    );
  }
  const op = opText as Operator;
  if (op === "in") {
    if (!value.startsWith("(") || !value.endsWith(")"))
      throw badRequest(
        `failed to parse filter (${text}): in needs a list in parentheses, in.(a,b)`,
        `${column}=${text}`,
      );
    const inner = value.slice(1, -1);
    const items = inner.trim() === "" ? [] : splitTop(inner, "in list").map((s) => unquote(s.trim()));
    return { kind: "op", column, path, op, negate, quantifier: null, value: items };
  }
  if (quantifier) {
    if (op === "is" || op === "isdistinct")
      throw badRequest(`failed to parse filter (${text}): ${op} takes no (any)/(all)`, `${column}=${text}`);
    if (!value.startsWith("{") || !value.endsWith("}"))
      throw badRequest(
        `failed to parse filter (${text}): ${op}(${quantifier}) needs a list in braces, {a,b}`,
        `${column}=${text}`,
      );
    const inner = value.slice(1, -1);
    return {
      kind: "op",
      column,
      path,
      op,
      negate,
      quantifier,
      value: inner === "" ? [] : splitTop(inner, "list").map((s) => unquote(s.trim())),
    };
  }
  if (op === "is") {
    const v = value.toLowerCase();
    if (!["null", "not_null", "true", "false", "unknown"].includes(v)) {
      throw badRequest(
        `failed to parse filter (${text}): is takes null, not_null, true, false or unknown`,
        `${column}=${text}`,
      );
    }
    return { kind: "op", column, path, op, negate, quantifier: null, value: v };
  }
  return { kind: "op", column, path, op, negate, quantifier: null, value: unquote(value) };
}

/** `(a.eq.1,or(b.gt.2,c.is.null))`: the body of or=/and= (with its parentheses). */
export function parseLogic(op: "and" | "or", negate: boolean, text: string): Filter {
  if (!text.startsWith("(") || !text.endsWith(")"))
    throw badRequest(`failed to parse logic tree (${text}): expected "(" … ")"`, `${op}=${text}`);
  const inner = text.slice(1, -1);
  if (inner.trim() === "") throw badRequest(`failed to parse logic tree (${text}): no conditions`, `${op}=${text}`);
  const children = splitTop(inner, "logic tree").map((item): Filter => {
    const t = item.trim();
    const m = /^(not\.)?(and|or)(\(.*\))$/s.exec(t);
    if (m) return parseLogic(m[2] as "and" | "or", Boolean(m[1]), m[3]!);
    let column: string;
    let rest: string;
    if (t.startsWith('"')) {
      const end = t.indexOf('"', 1);
      if (end === -1 || t[end + 1] !== ".")
        throw badRequest(`failed to parse logic tree (${text}): bad column in "${t}"`, `${op}=${text}`);
      column = t.slice(1, end);
      rest = t.slice(end + 2);
    } else {
      const dot = t.indexOf(".");
      if (dot <= 0)
        throw badRequest(
          `failed to parse logic tree (${text}): expected column.operator.value, not "${t}"`,
          `${op}=${text}`,
        );
      const ref = columnRef(t.slice(0, dot), "logic tree");
      return parseCondition(ref.name, t.slice(dot + 1), ref.path);
    }
    return parseCondition(column, rest);
  });
  return { kind: "logic", op, negate, children };
}

export function parseOrder(text: string): OrderTerm[] {
  return splitTop(text, "order").map((item) => {
    const parts = item.trim().split(".");
    const { name: column, path } = columnRef(parts[0] ?? "", "order");
    const term: OrderTerm = { column, path, desc: false, nulls: null };
    for (const p of parts.slice(1)) {
      if (p === "asc") term.desc = false;
      else if (p === "desc") term.desc = true;
      else if (p === "nullsfirst") term.nulls = "first";
      else if (p === "nullslast") term.nulls = "last";
      else
        throw badRequest(
          `failed to parse order (${text}): unknown modifier "${p}"`,
          item,
          "use asc, desc, nullsfirst or nullslast",
        );
    }
    return term;
  });
}

function count(key: string, text: string): number {
  if (!/^\d+$/.test(text))
    throw badRequest(`failed to parse ${key}: "${text}" is not a whole number`, `${key}=${text}`);
  return Number(text);
}

/** A comma list of (possibly double-quoted) column names, as `columns=` and `on_conflict=` take. */
export function parseColumnList(text: string, what: string): string[] {
  return splitTop(text, what).map((c) => identifier(c, what));
}

/** The whole query string of a /rest/v1/{table} request. */
export function parseQuery(params: URLSearchParams): ParsedQuery {
  const resources = new Map<string, ResourceOptions>([["", emptyOptions()]]);
  const at = (path: string) => {
    let r = resources.get(path);
    if (!r) resources.set(path, (r = emptyOptions()));
    return r;
  };
  let select: SelectItem[] = [{ kind: "star" }];
  let columns: string[] | null = null;
  let onConflict: string[] | null = null;
  for (const [key, value] of params) {
    if (key === "select") {
      select = parseSelect(value);
      continue;
    }
    if (key === "columns") {
      columns = parseColumnList(value, "columns");
      continue;
    }
    if (key === "on_conflict") {
      onConflict = parseColumnList(value, "on_conflict");
      continue;
    }
    // `rel.sub.limit` → path "rel.sub", key "limit"; a plain key → the root.
    let path = "";
    let name = key;
    const lastDot = key.lastIndexOf(".");
    if (lastDot > 0 && !RESERVED.has(key)) {
      const tail = key.slice(lastDot + 1);
      const head = key.slice(0, lastDot);
      if (tail === "or" || tail === "and") {
        // `rel.or`, `rel.not.or`
        if (head.endsWith(".not")) {
          path = head.slice(0, -4);
          name = `not.${tail}`;
        } else if (head === "not") {
          path = "";
          name = key;
        } else {
          path = head;
          name = tail;
        }
      } else {
        path = head;
        name = tail;
      }
    }
    const r = at(path);
    if (name === "order") r.order = parseOrder(value);
    else if (name === "limit") r.limit = count(key, value);
    else if (name === "offset") r.offset = count(key, value);
    else if (name === "or" || name === "and") r.filters.push(parseLogic(name, false, value));
    else if (name === "not.or" || name === "not.and")
      r.filters.push(parseLogic(name.slice(4) as "and" | "or", true, value));
    else {
      const ref = columnRef(name, "filter");
      r.filters.push(parseCondition(ref.name, value, ref.path));
    }
  }
  return { select, resources, columns, onConflict };
}

/** `Range: 0-9` (items): offset and limit; null when absent or open-ended (`5-`). */
export function parseRange(header: string | null): { offset: number; limit: number | null } | null {
  if (!header) return null;
  const m = /^\s*(?:items=)?(\d+)-(\d*)\s*$/.exec(header);
  if (!m)
    throw new RestError(
      416,
      "PGRST103",
      "Requested range not satisfiable",
      `Range: ${header} is not "from-to" in items`,
    );
  const from = Number(m[1]);
  if (m[2] === "") return { offset: from, limit: null };
  const to = Number(m[2]);
  if (to < from) return { offset: from, limit: 0 };
  return { offset: from, limit: to - from + 1 };
}

/** The `Prefer` header's settings (several headers are joined by commas). */
export interface Prefer {
  return: "representation" | "minimal" | "headers-only" | null;
  count: "exact" | "planned" | "estimated" | null;
  resolution: "merge-duplicates" | "ignore-duplicates" | null;
  missing: "default" | "null" | null;
  txRollback: boolean;
}

export function parsePrefer(header: string | null): Prefer {
  const p: Prefer = { return: null, count: null, resolution: null, missing: null, txRollback: false };
  if (!header) return p;
  for (const raw of header.split(",")) {
    const [k, v] = raw
      .trim()
      .split("=")
      .map((s) => s.trim());
    if (k === "return" && (v === "representation" || v === "minimal" || v === "headers-only")) p.return = v;
    else if (k === "count" && (v === "exact" || v === "planned" || v === "estimated")) p.count = v;
    else if (k === "resolution" && (v === "merge-duplicates" || v === "ignore-duplicates")) p.resolution = v;
    else if (k === "missing" && (v === "default" || v === "null")) p.missing = v;
    else if (k === "tx" && v === "rollback") p.txRollback = true;
  }
  return p;
}
