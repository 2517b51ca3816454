// Splits SQL text into statements at top-level semicolons, for the shell (which reads a
// statement over several lines) and migrations (a file of statements). Only quoting is
// understood: '…' (with '' inside), "…", $tag$…$tag$, -- and /* */ comments, so a ';'
// inside any of them does not end a statement. Everything else is the parser's business.

export interface SplitResult {
  /** Complete statements, trimmed, without their ';', with the 1-based line each starts on. */
  statements: { text: string; line: number }[];
  /** Text after the last ';' (an unfinished statement, or only whitespace and comments). */
  rest: string;
}

export function splitStatements(text: string): SplitResult {
  const statements: SplitResult["statements"] = [];
  let start = 0;
  let i = 0;
  let line = 1;
  let startLine = 1;
  const n = text.length;
  const push = (end: number) => {
    const raw = text.slice(start, end);
    const lead = raw.length - raw.trimStart().length;
    const stmt = raw.trim();
    // A statement that is only comments is nothing to run.
    if (stripComments(stmt).trim() !== "") {
      statements.push({ text: stmt, line: startLine + count(raw.slice(0, lead), "\n") });
    }
  };
  while (i < n) {
    const c = text[i] as string;
    if (c === "\n") {
      line++;
      i++;
    } else if (c === "'" || c === '"') {
      const close = text.indexOf(c, i + 1);
      // '' inside a string is an escaped quote: the scan continues past it.
      const end = close < 0 ? n : close + 1;
      line += count(text.slice(i, end), "\n");
      i = end;
    } else if (c === "-" && text[i + 1] === "-") {
      const nl = text.indexOf("\n", i);
      i = nl < 0 ? n : nl;
    } else if (c === "/" && text[i + 1] === "*") {
      const close = text.indexOf("*/", i + 2);
      const end = close < 0 ? n : close + 2;
      line += count(text.slice(i, end), "\n");
      i = end;
    } else if (c === "$") {
      const tag = /^\$(?:[A-Za-z_][A-Za-z0-9_]*)?\$/.exec(text.slice(i, i + 64))?.[0];
      if (tag) {
        const close = text.indexOf(tag, i + tag.length);
        const end = close < 0 ? n : close + tag.length;
        line += count(text.slice(i, end), "\n");
        i = end;
      } else {
        i++;
      }
    } else if (c === ";") {
      push(i);
      i++;
      start = i;
      startLine = line;
    } else {
      i++;
    }
  }
  return { statements, rest: text.slice(start) };
}

/** Whether the text (after the last ';') holds anything but whitespace and comments. */
export function isBlank(text: string): boolean {
  return stripComments(text).trim() === "";
}

function stripComments(s: string): string {
  return s.replace(/--[^\n]*/g, "").replace(/\/\*[\s\S]*?(?:\*\/|$)/g, "");
}

function count(s: string, ch: string): number {
  let k = 0;
  for (let j = s.indexOf(ch); j >= 0; j = s.indexOf(ch, j + 1)) k++;
  return k;
}
