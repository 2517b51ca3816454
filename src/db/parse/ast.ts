// The parser's AST is serde JSON from sqlparser-rs: tagged unions as single-key objects
// ({"BinaryOp": {...}}), unit variants as strings ("Wildcard"), spans as {line, column}.
// It is walked structurally by the planner; this file names the few shapes it relies on.

// biome-ignore lint/suspicious/noExplicitAny: the AST is untyped serde JSON, checked by shape where read.
export type Ast = any;

export interface Loc {
  line: number;
  column: number;
}

/** The single key of a serde enum value (`{"Select": {...}}` → "Select"; "Wildcard" → "Wildcard"). */
export function tagOf(node: Ast): string {
  if (typeof node === "string") return node;
  if (node && typeof node === "object") {
    const keys = Object.keys(node);
    if (keys.length === 1) return keys[0]!;
  }
  return "";
}

/** The first span start found in a node, depth first: where an expression begins. */
export function firstLoc(node: Ast, depth = 0): Loc | null {
  if (!node || typeof node !== "object" || depth > 12) return null;
  if (node.span && typeof node.span === "object" && node.span.start && node.span.start.line > 0) return node.span.start;
  for (const v of Array.isArray(node) ? node : Object.values(node)) {
    const l = firstLoc(v, depth + 1);
    if (l) return l;
  }
  return null;
}
