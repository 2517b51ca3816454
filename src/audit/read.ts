// Reading the audit log for people: the last N lines across files, and following new lines
// as they are appended, across rotation. Reads only; a torn last line is never shown.
import { closeSync, existsSync, fstatSync, openSync, readFileSync, readSync } from "node:fs";
import { join } from "node:path";
import { type AuditRecord, parseLine } from "./format.ts";
import { listSegmentNames } from "./log.ts";

export interface ReadLine {
  file: string;
  line: number;
  /** The record, or null when the line is not a readable audit line. */
  record: AuditRecord | null;
  text: string;
}

/** Where a reader stopped: the next byte to read of a segment. */
export interface Position {
  file: string | null;
  offset: number;
  line: number;
}

/** The last `n` complete lines of the log in dir, oldest first, and where they end. */
export function lastLines(dir: string, n: number): { lines: ReadLine[]; end: Position } {
  const names = existsSync(dir) ? listSegmentNames(dir) : [];
  const out: ReadLine[] = [];
  let end: Position = { file: null, offset: 0, line: 0 };
  for (let i = names.length - 1; i >= 0; i--) {
    const file = names[i] as string;
    const buf = readFileSync(join(dir, file));
    const complete = buf.lastIndexOf(10) + 1;
    const lines = split(file, buf.subarray(0, complete), 0);
    if (i === names.length - 1) end = { file, offset: complete, line: lines.length };
    if (out.length < n) out.unshift(...lines.slice(Math.max(0, lines.length - (n - out.length))));
    if (out.length >= n) break;
  }
  return { lines: n === 0 ? [] : out, end };
}

/** Complete lines appended since `from` (moving on to newer files once `from`'s file is done). */
export function readSince(dir: string, from: Position): { lines: ReadLine[]; end: Position } {
  // The directory appears with the first event: until then there is nothing to read.
  const names = existsSync(dir) ? listSegmentNames(dir) : [];
  const out: ReadLine[] = [];
  let pos = from;
  let idx = pos.file === null ? 0 : names.indexOf(pos.file);
  if (idx < 0) idx = names.findIndex((n) => pos.file !== null && n > pos.file);
  if (idx < 0) return { lines: out, end: pos };
  for (; idx < names.length; idx++) {
    const file = names[idx] as string;
    if (pos.file !== file) pos = { file, offset: 0, line: 0 };
    const fd = openSync(join(dir, file), "r");
    try {
      const size = fstatSync(fd).size;
      if (size > pos.offset) {
        const buf = Buffer.alloc(size - pos.offset);
        readSync(fd, buf, 0, buf.length, pos.offset);
        const complete = buf.lastIndexOf(10) + 1;
        const lines = split(file, buf.subarray(0, complete), pos.line);
        out.push(...lines);
        pos = { file, offset: pos.offset + complete, line: pos.line + lines.length };
      }
    } finally {
      closeSync(fd);
    }
  }
  return { lines: out, end: pos };
}

function split(file: string, buf: Buffer, firstLine: number): ReadLine[] {
  const out: ReadLine[] = [];
  let start = 0;
  while (start < buf.length) {
    const nl = buf.indexOf(10, start);
    const bytes = buf.subarray(start, nl);
    const p = parseLine(bytes);
    out.push({ file, line: firstLine + out.length + 1, record: p.ok ? p.record : null, text: bytes.toString("utf8") });
    start = nl + 1;
  }
  return out;
}

/** One line for people: time, actor, action, target, outcome (and reason). */
export function formatHuman(l: ReadLine): string {
  const r = l.record;
  if (!r) return `?  ${l.file}:${l.line}: unreadable line`;
  const outcome = r.reason !== undefined ? `${r.outcome} (${r.reason})` : r.outcome;
  return [r.time, r.actor, r.action, r.target === "" ? "-" : r.target, outcome].join("  ");
}
