// SQL text → statements (AST) with Postgres-worded syntax errors (42601, with position).
import { DbError, SQLSTATE } from "../errors.ts";
import type { Ast, Loc } from "./ast.ts";
import { discardParser, loadParser, loadedParser } from "./wasm.ts";

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

function parseWith(glue: { parse_sql(d: string, s: string): unknown }, text: string): Parsed {
  let statements: Ast[];
  try {
    // Objects straight from WASM: about a quarter faster than its pretty-printed JSON text.
    statements = glue.parse_sql("postgresql", text) as Ast[];
  } catch (e) {
    const m = (e as { message?: unknown } | null)?.message;
    const raw = typeof e === "string" ? e : typeof m === "string" ? m : String(e);
    if (!raw.startsWith("sql parser error")) {
      // A trap in the parser (it recursed past WASM's stack): not the user's syntax.
      discardParser();
      throw new DbError("54001", "stack depth limit exceeded", {
        hint: "The statement nests too deeply for the parser; split long chains of operators.",
        cause: e,
      });
    }
    if (/recursion limit exceeded/.test(raw))
      throw new DbError("54001", "stack depth limit exceeded", { hint: "The statement nests too deeply.", cause: e });
    throw syntaxError(text, raw);
  }
  return { statements, positionOf: (loc) => positionIn(text, loc) };
}

/** Binary operators outside literals and comments: a left-deep chain this long overflows the parser. */
const MAX_OPERATORS = 500;

function operatorCount(text: string): number {
  let n = 0;
  const re = /'(?:[^']|'')*'|"(?:[^"]|"")*"|--[^\n]*|\/\*[\s\S]*?\*\/|\$\$[\s\S]*?\$\$|[-+*/%<>=|&^~!:]+|\b(?:and|or)\b/gi;
  for (let m = re.exec(text); m; m = re.exec(text)) {
    const c = m[0]![0];
    if (c !== "'" && c !== '"' && !m[0]!.startsWith("--") && !m[0]!.startsWith("/*") && !m[0]!.startsWith("$$")) n++;
  }
  return n;
}

/** Parses one or more statements; loads the WASM parser on first call. */
export async function parseSql(text: string): Promise<Parsed> {
  if (text.length > 1000 && operatorCount(text) > MAX_OPERATORS)
    throw new DbError("54001", "stack depth limit exceeded", {
      hint: `The statement has more than ${MAX_OPERATORS} operators; split it or use IN lists.`,
    });
  return parseWith(loadedParser() ?? (await loadParser()), text);
}

/**
 * Parses SQL kept in the catalog (a function's body) while planning: the parser is loaded by
 * then, since the statement being planned was parsed first.
 */
export function parseLoaded(text: string): Parsed {
  const glue = loadedParser();
  if (!glue) throw new DbError(SQLSTATE.internalError, "the SQL parser is not loaded");
  return parseWith(glue, text);
}
