// Verifies audit log files: every line's Ed25519 signature, the seq/prev chain within and
// across files, and the tail against the signed head. Each finding names the file and line,
// its kind, and what was expected against what was found. Independent of the writer's state:
// it needs only the files and a public key (the auditor's own copy, ideally).
import { createHash, verify as edVerify, type KeyObject } from "node:crypto";
import { existsSync, readFileSync, statSync } from "node:fs";
import { basename, dirname, join } from "node:path";
import { CaveError } from "../core/errors.ts";
import { GENESIS, parseLine, SEGMENT_PATTERN, SIG_SUFFIX_BYTES } from "./format.ts";
import { PUBLIC_KEY_FILE, parsePublicKey, publicKeyRaw } from "./keys.ts";
import { HEAD_FILE, listSegmentNames } from "./log.ts";

export type FindingKind = "edited" | "deleted" | "inserted" | "reordered" | "truncated" | "bad-signature" | "bad-json";

export interface Finding {
  kind: FindingKind;
  file: string;
  /** 1-based line in `file`; null for a whole file or key. */
  line: number | null;
  expected: string;
  found: string;
  message: string;
}

export interface VerifyReport {
  ok: boolean;
  files: string[];
  lines: number;
  firstSeq: number | null;
  lastSeq: number | null;
  /** The signed head compared against, when one was. */
  head: { path: string; file: string; seq: number; hash: string } | null;
  key: { source: string; fingerprint: string };
  findings: Finding[];
  notes: string[];
}

export interface VerifyOptions {
  /** Segment files and/or audit directories, in chain order (segment files are sorted by name). */
  paths: string[];
  /** The key to trust (`--pubkey`); default: the public key kept beside the files. */
  publicKey?: { key: KeyObject; source: string };
  /** A signed head to compare the tail with (`--head`); a directory's own head.json is used by default. */
  headPath?: string;
}

interface Entry {
  file: string;
  line: number;
  parsed: ReturnType<typeof parseLine>;
  valid: boolean;
}

/** SHA256:<base64> of the raw 32-byte public key, as ssh prints fingerprints. */
export function keyFingerprint(k: KeyObject): string {
  return `SHA256:${createHash("sha256")
    .update(Buffer.from(publicKeyRaw(k), "base64"))
    .digest("base64")
    .replace(/=+$/, "")}`;
}

export function verifyAudit(opts: VerifyOptions): VerifyReport {
  const findings: Finding[] = [];
  const notes: string[] = [];
  const { files, dirs } = expand(opts.paths);
  if (files.length === 0) {
    throw new CaveError("USAGE", `no audit files in ${opts.paths.join(", ")}`, {
      hint: "give audit-*.jsonl files or the audit directory (<data dir>/audit)",
    });
  }
  const fromDirectory = dirs.length > 0;

  // The key: the caller's, or the one beside the files (which trusts whoever wrote them).
  const besideKey = join(dirs[0] ?? dirname(files[0] as string), PUBLIC_KEY_FILE);
  let key: KeyObject;
  let keySource: string;
  if (opts.publicKey) {
    key = opts.publicKey.key;
    keySource = opts.publicKey.source;
    if (existsSync(besideKey)) {
      const local = parsePublicKey(readFileSync(besideKey, "utf8"), besideKey);
      if (!local.equals(key)) {
        findings.push({
          kind: "bad-signature",
          file: besideKey,
          line: null,
          expected: `the given key ${keyFingerprint(key)}`,
          found: `a different key ${keyFingerprint(local)}`,
          message: "the public key kept beside the log is not the key you trust: it was replaced",
        });
      }
    }
  } else if (existsSync(besideKey)) {
    key = parsePublicKey(readFileSync(besideKey, "utf8"), besideKey);
    keySource = besideKey;
    notes.push(
      `key taken from ${besideKey}: this trusts the directory; give --pubkey with your own copy to rule out a replaced key`,
    );
  } else {
    throw new CaveError("USAGE", `no public key to verify with (${besideKey} does not exist)`, {
      hint: "give --pubkey FILE (the PEM from `cave audit pubkey`)",
    });
  }

  // Lines, in order.
  const entries: Entry[] = [];
  files.forEach((file, fi) => {
    let buf: Buffer;
    try {
      buf = readFileSync(file);
    } catch (e) {
      throw new CaveError(
        "USAGE",
        `cannot read ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`,
        {
          cause: e,
        },
      );
    }
    let start = 0;
    let n = 0;
    while (start < buf.length) {
      const nl = buf.indexOf(10, start);
      n++;
      if (nl < 0) {
        const rest = buf.length - start;
        if (fi === files.length - 1) {
          findings.push({
            kind: "truncated",
            file,
            line: n,
            expected: "a complete line ending in a newline",
            found: `${rest} bytes without a newline`,
            message: "the last line is cut off",
          });
        } else {
          entries.push(entry(file, n, buf.subarray(start), key));
        }
        break;
      }
      entries.push(entry(file, n, buf.subarray(start, nl), key));
      start = nl + 1;
    }
  });

  const head = loadHead(
    opts.headPath ?? (dirs.length > 0 ? join(dirs[dirs.length - 1] as string, HEAD_FILE) : undefined),
  );
  let headOk = false;
  if (head?.kind === "bad-json") findings.push({ ...head.finding });
  if (head?.kind === "ok") {
    headOk = edVerify(null, head.canonical, key, head.signature);
    if (!headOk) {
      findings.push({
        kind: "bad-signature",
        file: head.path,
        line: 1,
        expected: `a signature by ${keyFingerprint(key)}`,
        found: "a signature that does not match",
        message: "the signed head was changed or signed by another key",
      });
    }
  }

  // A key that signed nothing here: one finding, not one per line.
  const parsedCount = entries.filter((e) => e.parsed.ok).length;
  if (parsedCount > 0 && entries.every((e) => !e.valid) && !headOk) {
    findings.push({
      kind: "bad-signature",
      file: files[0] as string,
      line: null,
      expected: `lines signed by ${keyFingerprint(key)} (${keySource})`,
      found: `no line of ${entries.length} verifies with it`,
      message: "the log was signed by another key (a replaced key pair), or the key given is not this log's",
    });
    for (const e of entries) if (!e.parsed.ok) findings.push(badJson(e));
    return report(files, entries, null, null, head, headOk, key, keySource, findings, notes);
  }

  const headSeq = head?.kind === "ok" && headOk ? head.value.seq : null;
  const chainEnd = walkChain(entries, fromDirectory, headSeq, findings, notes);

  const valid = entries.filter((e) => e.valid);
  // A loop, not Math.min(...seqs): a log of millions of lines would overflow the call's arguments.
  let firstSeq: number | null = null;
  let lastSeq: number | null = null;
  for (const e of valid) {
    if (!e.parsed.ok) continue;
    const s = e.parsed.record.seq;
    if (firstSeq === null || s < firstSeq) firstSeq = s;
    if (lastSeq === null || s > lastSeq) lastSeq = s;
  }

  if (head?.kind === "ok" && headOk) {
    const h = head.value;
    const last = [...valid].reverse().find((e) => e.parsed.ok && e.parsed.record.seq === lastSeq);
    const end = Math.max(chainEnd ?? 0, lastSeq ?? 0);
    if (h.seq > end) {
      findings.push({
        kind: "truncated",
        file: last?.file ?? (files[files.length - 1] as string),
        line: last?.line ?? null,
        expected: `the log to end at seq ${h.seq} (${head.path}, in ${h.file})`,
        found: end === 0 ? "no line" : `its last line is seq ${end}`,
        message: `${h.seq - end} line(s) missing at the end`,
      });
    } else {
      const at = valid.find((e) => e.parsed.ok && e.parsed.record.seq === h.seq);
      if (at?.parsed.ok && at.parsed.hash !== h.hash) {
        findings.push({
          kind: "edited",
          file: at.file,
          line: at.line,
          expected: `hash ${h.hash} (${head.path})`,
          found: `hash ${at.parsed.hash}`,
          message: `seq ${h.seq} is not the line the signed head recorded`,
        });
      }
      if (end > h.seq) {
        notes.push(
          `${end - h.seq} line(s) after the signed head (seq ${h.seq}): an append that ended before it updated the head`,
        );
      }
    }
  } else if (!head) {
    notes.push("no signed head compared: a truncated tail cannot be detected (give the directory or --head)");
  }

  return report(files, entries, firstSeq, lastSeq, head, headOk, key, keySource, findings, notes);
}

function entry(file: string, line: number, bytes: Buffer, key: KeyObject): Entry {
  const parsed = parseLine(bytes);
  const valid = parsed.ok && edVerify(null, parsed.canonical, key, parsed.signature);
  return { file, line, parsed, valid };
}

/** seq and prev, line by line: what is missing, extra, out of place or changed. */
function walkChain(
  entries: Entry[],
  fromDirectory: boolean,
  headSeq: number | null,
  findings: Finding[],
  notes: string[],
): number | null {
  // Where each validly signed seq sits, to tell a moved line from a deleted one.
  const positions = new Map<number, number[]>();
  entries.forEach((e, i) => {
    if (!e.valid || !e.parsed.ok) return;
    const s = e.parsed.record.seq;
    positions.set(s, [...(positions.get(s) ?? []), i]);
  });
  const seqOf = (e: Entry) => (e.parsed.ok ? e.parsed.record.seq : -1);
  const at = (i: number) => `${entries[i]?.file}:${entries[i]?.line}`;

  let expected: number | null = fromDirectory ? 1 : null;
  let prevHash: string | null = fromDirectory ? GENESIS : null;
  let prevAt = "the genesis value";
  const seen = new Map<number, number>();
  const displaced = new Set<number>();

  for (let i = 0; i < entries.length; ) {
    const e = entries[i] as Entry;
    if (!e.valid) {
      let j = i;
      while (j < entries.length && !(entries[j] as Entry).valid) j++;
      const next = entries[j];
      const nextSeq = next ? seqOf(next) : headSeq !== null ? headSeq + 1 : null;
      const run = entries.slice(i, j);
      const slots = expected !== null && nextSeq !== null ? nextSeq - expected : null;
      run.forEach((r, m) => {
        if (!r.parsed.ok) {
          findings.push(badJson(r));
          return;
        }
        const claimed = r.parsed.record.seq;
        const edited = slots === run.length || (slots === null && expected !== null && claimed === expected + m);
        const inserted = slots === 0;
        if (edited) {
          findings.push({
            kind: "edited",
            file: r.file,
            line: r.line,
            expected: `seq ${(expected as number) + m} as it was signed`,
            found: `content that does not match its signature (it says seq ${claimed}, action ${r.parsed.record.action})`,
            message: "the line was changed after it was signed",
          });
        } else if (inserted) {
          findings.push({
            kind: "inserted",
            file: r.file,
            line: r.line,
            expected: `seq ${expected} next (${next ? at(j) : "end"})`,
            found: `a line that is not signed by the key (it says seq ${claimed}, action ${r.parsed.record.action})`,
            message: "a forged line was inserted into the chain",
          });
        } else {
          findings.push({
            kind: "bad-signature",
            file: r.file,
            line: r.line,
            expected: "a signature by the log's key",
            found: `a signature that does not match (it says seq ${claimed})`,
            message: "the line is not signed by the key",
          });
        }
      });
      if (slots === run.length && expected !== null) {
        // Edited lines keep their slots; the chain resumes after them without a prev to compare.
        expected += run.length;
        prevHash = null;
      }
      i = j;
      continue;
    }

    const p = e.parsed as Extract<Entry["parsed"], { ok: true }>;
    const s = p.record.seq;
    const here = `${e.file}:${e.line}`;
    const first = seen.get(s);
    if (first !== undefined) {
      findings.push({
        kind: "inserted",
        file: e.file,
        line: e.line,
        expected: expected !== null ? `seq ${expected}` : "a new seq",
        found: `a second copy of seq ${s} (the first is at ${at(first)})`,
        message: "a copy of an earlier line was inserted",
      });
      i++;
      continue;
    }
    seen.set(s, i);
    if (displaced.has(s)) {
      // Already reported where the order broke.
      i++;
      continue;
    }
    if (expected === null) {
      if (s === 1) {
        expected = 1;
        prevHash = GENESIS;
      } else {
        notes.push(`${here} starts at seq ${s}: its link to the line before (in an earlier file) is unchecked`);
        expected = s;
        prevHash = null;
      }
    }
    if (s === expected) {
      if (prevHash !== null && p.record.prev !== prevHash) {
        findings.push({
          kind: s === 1 ? "inserted" : "edited",
          file: e.file,
          line: e.line,
          expected: `prev ${prevHash} (the hash of ${prevAt})`,
          found: `prev ${p.record.prev}`,
          message:
            s === 1
              ? "the first line does not start from the genesis value: the chain was replaced"
              : "the line before is not the one this line was chained to",
        });
      }
    } else if (s > expected) {
      const missing: number[] = [];
      const later: number[] = [];
      for (let k = expected; k < s; k++) {
        const pos = positions.get(k)?.find((x) => x > i);
        if (pos !== undefined) later.push(k);
        else if (!seen.has(k)) missing.push(k);
      }
      if (later.length > 0) {
        const firstLater = later[0] as number;
        findings.push({
          kind: "reordered",
          file: e.file,
          line: e.line,
          expected: `seq ${expected}`,
          found: `seq ${s}; seq ${later.join(", ")} come(s) later, at ${later.map((k) => at((positions.get(k) ?? []).find((x) => x > i) as number)).join(", ")}`,
          message: `lines are out of order: seq ${firstLater} should come before ${here}`,
        });
        for (const k of later) displaced.add(k);
      }
      if (missing.length > 0) {
        const crossesFile = i > 0 && entries[i - 1]?.file !== e.file;
        findings.push({
          kind: "deleted",
          file: e.file,
          line: e.line,
          expected: `seq ${expected}${prevHash ? ` with prev ${prevHash}` : ""}`,
          found: `seq ${s} with prev ${p.record.prev}`,
          message: `${missing.length} line(s) missing: seq ${range(missing)}${
            crossesFile ? ` (between ${prevAt} and the first line of ${basename(e.file)}: a file may be missing)` : ""
          }`,
        });
      }
    } else {
      findings.push({
        kind: "reordered",
        file: e.file,
        line: e.line,
        expected: `seq ${expected}`,
        found: `seq ${s}, which belongs before ${prevAt}`,
        message: "the line is out of order",
      });
      i++;
      continue;
    }
    expected = s + 1;
    prevHash = p.hash;
    prevAt = here;
    i++;
  }
  return expected === null ? null : expected - 1;
}

function range(seqs: number[]): string {
  const a = seqs[0] as number;
  const b = seqs[seqs.length - 1] as number;
  return seqs.length === 1 ? String(a) : b - a + 1 === seqs.length ? `${a}–${b}` : seqs.join(", ");
}

function badJson(e: Entry): Finding {
  return {
    kind: "bad-json",
    file: e.file,
    line: e.line,
    expected: "one JSON object with the audit members, ending in a sig member",
    found: e.parsed.ok ? "?" : e.parsed.problem,
    message: "the line cannot be read",
  };
}

type Head =
  | {
      kind: "ok";
      path: string;
      value: { seq: number; hash: string; file: string };
      canonical: Buffer;
      signature: Buffer;
    }
  | { kind: "bad-json"; path: string; finding: Finding };

function loadHead(path: string | undefined): Head | null {
  if (path === undefined || !existsSync(path)) return null;
  const text = readFileSync(path, "utf8").replace(/\n$/, "");
  const fail = (problem: string): Head => ({
    kind: "bad-json",
    path,
    finding: {
      kind: "bad-json",
      file: path,
      line: 1,
      expected: '{"seq":…,"hash":…,"file":…,"time":…,"sig":…}',
      found: problem,
      message: "the signed head cannot be read",
    },
  });
  const m = /,"sig":"([A-Za-z0-9+/]{86}==)"\}$/.exec(text);
  if (!m) return fail("no sig member at the end");
  let v: { seq?: unknown; hash?: unknown; file?: unknown };
  try {
    v = JSON.parse(text);
  } catch (e) {
    return fail(`not JSON: ${(e as Error).message}`);
  }
  if (!Number.isSafeInteger(v.seq) || typeof v.hash !== "string" || typeof v.file !== "string") {
    return fail("seq, hash or file missing");
  }
  const bytes = Buffer.from(text);
  return {
    kind: "ok",
    path,
    value: { seq: v.seq as number, hash: v.hash, file: v.file },
    canonical: Buffer.concat([bytes.subarray(0, bytes.length - SIG_SUFFIX_BYTES), Buffer.from("}")]),
    signature: Buffer.from(m[1] as string, "base64"),
  };
}

/** Directories become their segment files; files sort by the seq in their names when all have one. */
function expand(paths: string[]): { files: string[]; dirs: string[] } {
  const files: string[] = [];
  const dirs: string[] = [];
  for (const p of paths) {
    let isDir: boolean;
    try {
      isDir = statSync(p).isDirectory();
    } catch (e) {
      throw new CaveError("USAGE", `cannot read ${p}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`, {
        hint: "give audit-*.jsonl files or the audit directory (<data dir>/audit)",
        cause: e,
      });
    }
    if (isDir) {
      dirs.push(p);
      files.push(...listSegmentNames(p).map((n) => join(p, n)));
    } else files.push(p);
  }
  if (files.every((f) => SEGMENT_PATTERN.test(basename(f)))) {
    const n = (f: string) => Number(SEGMENT_PATTERN.exec(basename(f))?.[1]);
    files.sort((a, b) => n(a) - n(b));
  }
  return { files, dirs };
}

function report(
  files: string[],
  entries: Entry[],
  firstSeq: number | null,
  lastSeq: number | null,
  head: Head | null,
  headOk: boolean,
  key: KeyObject,
  source: string,
  findings: Finding[],
  notes: string[],
): VerifyReport {
  return {
    ok: findings.length === 0,
    files,
    lines: entries.length,
    firstSeq,
    lastSeq,
    head: head?.kind === "ok" && headOk ? { path: head.path, ...head.value } : null,
    key: { source, fingerprint: keyFingerprint(key) },
    findings,
    notes,
  };
}
