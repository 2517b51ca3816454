// The audit log's line format: what one event looks like on disk, its canonical (signed)
// bytes and its hash. docs/governance.md describes the same format for third parties; keep
// them together. Pure: no I/O.
//
// A line is one JSON object whose members come in a fixed order and whose last member is
// always `"sig"` with 88 base64 characters (an Ed25519 signature). The canonical bytes are the
// line itself with that last member cut off: line[0 .. len-98] + "}". Signing the bytes as
// written, rather than a re-serialisation, means a verifier in any language needs no JSON
// canonicalisation: it cuts a fixed-length suffix.
import { createHash } from "node:crypto";

/** `prev` of the very first line of a log: there is no line before it. */
export const GENESIS = "0".repeat(64);

export type Outcome = "success" | "failure" | "denied";
export const OUTCOMES: readonly Outcome[] = ["success", "failure", "denied"];

/** The actions cave records; others of the same `noun.verb` shape are accepted too. */
export const AUDIT_ACTIONS = [
  "auth.login",
  "auth.failure",
  "key.issue",
  "key.rotate",
  "key.revoke",
  "sandbox.create",
  "sandbox.start",
  "sandbox.stop",
  "sandbox.remove",
  "sandbox.exec",
  "sandbox.copy",
  "policy.create",
  "policy.drop",
  "schema.change",
  "config.change",
] as const;
export const ACTION_PATTERN = /^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+$/;

/** One event as the caller hands it to AuditLog.append. */
export interface AuditEvent {
  /** Who: an API key's id (never the secret), a user's id or email, or `local:<unix user>`. */
  actor: string;
  /** What, as `noun.verb`: auth.login, key.issue, sandbox.exec … (AUDIT_ACTIONS). */
  action: string;
  /** On what: a sandbox id, a key id, a table, a config path; "" when there is none. */
  target: string;
  outcome: Outcome;
  /** Why it failed or was denied (optional). */
  reason?: string | undefined;
  /** The request this came from (the server's request id), or null outside a request. */
  requestId: string | null;
  /** Anything else worth keeping: JSON values only, never secrets. */
  details?: Record<string, unknown> | undefined;
}

/** One line as stored (members in this order; reason and details only when present). */
export interface AuditRecord {
  seq: number;
  time: string;
  actor: string;
  action: string;
  target: string;
  outcome: Outcome;
  reason?: string;
  request_id: string | null;
  details?: Record<string, unknown>;
  prev: string;
  sig: string;
}

/** `,"sig":"` + 88 base64 characters + `"}`. */
export const SIG_SUFFIX_BYTES = 98;
const SIG_SUFFIX = /,"sig":"([A-Za-z0-9+/]{86}==)"\}$/;

/** The canonical text of a record without its signature: JSON with members in the fixed order. */
export function canonicalText(r: Omit<AuditRecord, "sig">): string {
  const o: Record<string, unknown> = {
    seq: r.seq,
    time: r.time,
    actor: r.actor,
    action: r.action,
    target: r.target,
    outcome: r.outcome,
  };
  if (r.reason !== undefined) o.reason = r.reason;
  o.request_id = r.request_id;
  if (r.details !== undefined) o.details = r.details;
  o.prev = r.prev;
  return JSON.stringify(o);
}

/** The stored line (without newline) for canonical text and its signature. */
export function withSignature(canonical: string, sigBase64: string): string {
  return `${canonical.slice(0, -1)},"sig":"${sigBase64}"}`;
}

/** Hex SHA-256 of canonical bytes: the next line's `prev`. */
export function hashCanonical(canonical: Buffer | string): string {
  return createHash("sha256").update(canonical).digest("hex");
}

export type ParsedLine =
  | { ok: true; record: AuditRecord; canonical: Buffer; signature: Buffer; hash: string }
  | { ok: false; problem: string };

/** Splits a stored line into its record, canonical bytes and signature; says what is wrong otherwise. */
export function parseLine(line: Buffer): ParsedLine {
  const text = line.toString("utf8");
  const m = SIG_SUFFIX.exec(text);
  if (!m) return { ok: false, problem: 'the line does not end with a "sig" member of 88 base64 characters' };
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (e) {
    return { ok: false, problem: `not JSON: ${(e as Error).message}` };
  }
  const problem = shapeProblem(value);
  if (problem) return { ok: false, problem };
  const canonical = Buffer.concat([line.subarray(0, line.length - SIG_SUFFIX_BYTES), Buffer.from("}")]);
  return {
    ok: true,
    record: value as AuditRecord,
    canonical,
    signature: Buffer.from(m[1] as string, "base64"),
    hash: hashCanonical(canonical),
  };
}

function shapeProblem(v: unknown): string | undefined {
  if (typeof v !== "object" || v === null || Array.isArray(v)) return "not a JSON object";
  const r = v as Record<string, unknown>;
  if (!Number.isSafeInteger(r.seq) || (r.seq as number) < 1) return "seq is not a whole number of 1 or more";
  for (const k of ["time", "actor", "action", "target", "prev", "sig"] as const) {
    if (typeof r[k] !== "string") return `${k} is not a string`;
  }
  if (!OUTCOMES.includes(r.outcome as Outcome)) return "outcome is not success, failure or denied";
  if (r.request_id !== null && typeof r.request_id !== "string") return "request_id is neither a string nor null";
  if (!/^[0-9a-f]{64}$/.test(r.prev as string)) return "prev is not 64 hex digits";
  return undefined;
}

/** RFC 3339 in UTC with milliseconds: 2026-01-25T10:00:00.123Z. */
export function rfc3339(d: Date): string {
  return d.toISOString();
}

/** Segment file name for a file whose first line has `seq`: sorts in chain order. */
export function segmentName(seq: number): string {
  return `audit-${String(seq).padStart(12, "0")}.jsonl`;
}
export const SEGMENT_PATTERN = /^audit-(\d{12,})\.jsonl$/;
