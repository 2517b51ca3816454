// SQL text → statements (AST) with Postgres-worded syntax errors (42601, with position).
import { DbError, SQLSTATE } from "../errors.ts";
import type { Ast, Loc } from "./ast.ts";
import { loadParser, loadedParser } from "./wasm.ts";

export interface Parsed {
  statements: Ast[];
  /** Maps the parser's line/column to Postgres's 1-based character position. */
  positionOf(loc: Loc | null | undefined): number;
}

/** Converts a line/column (1-based, in characters) to a 1-based character offset. */
export function positionIn(text: string, loc: Loc | null | undefined): number {
  if (!loc || loc.line < 1) return 0;
  const chars = /[^ -~\t\n\r]/.test(text) ? Array.from(text) : text;
  let line = 1;
  let i = 0;
  while (line < loc.line && i < chars.length) {
    if (chars[i] === "\n") line++;
    i++;
  }
  return i + loc.column;
}

const PARSER_ERROR = /^sql parser error: (.*?)(?: at Line: (\d+), Column: (\d+))?$/s;

function syntaxError(text: string, raw: string): DbError {
  const m = PARSER_ERROR.exec(raw);
  const detail = m?.[1] ?? raw;
  const loc = m?.[2] ? { line: Number(m[2]), column: Number(m[3]) } : null;
  const found = /found: (.*)$/s.exec(detail)?.[1];
  let position = positionIn(text, loc);
  let message: string;
  if (found === undefined) {
    message = `syntax error: ${detail}`;
  } else if (found === "EOF") {
    message = "syntax error at end of input";
    position = Array.from(text).length + 1;
  } else {
    message = `syntax error at or near "${found.replace(/^'(.*)'$/s, "$1")}"`;
  }
  return new DbError(SQLSTATE.syntaxError, message, { position, hint: detail });
}

function parseWith(glue: { parse_sql_to_json_string(d: string, s: string): string }, text: string): Parsed {
  let json: string;
  try {
    json = glue.parse_sql_to_json_string("postgresql", text);
  } catch (e) {
    const raw = typeof e === "string" ? e : e instanceof Error ? e.message : String(e);
    throw syntaxError(text, raw);
  }
  return { statements: JSON.parse(json) as Ast[], positionOf: (loc) => positionIn(text, loc) };
}

/** Parses one or more statements; loads the WASM parser on first call. */
export async function parseSql(text: string): Promise<Parsed> {
  return parseWith(loadedParser() ?? (await loadParser()), text);
}
