// The audit log's writer: appends signed, hash-chained lines to <data dir>/audit/*.jsonl.
//
// Every append takes an flock on audit/lock, so cave processes appending at once (the CLI
// verbs and cave serve) still form one chain: under the lock it reads the chain's tail
// (cached while the last file's size is unchanged), writes each line with one write(2) on an
// O_APPEND descriptor, fsyncs, then rewrites the signed head (head.json: last seq and hash)
// so a verifier can tell a truncated tail. A line is acknowledged only after its fsync.
import { type KeyObject, sign } from "node:crypto";
import {
  closeSync,
  constants,
  existsSync,
  fstatSync,
  fsync,
  fsyncSync,
  ftruncateSync,
  mkdirSync,
  openSync,
  readdirSync,
  readSync,
  rename,
  renameSync,
  rmSync,
  statSync,
  truncateSync,
  writeSync,
} from "node:fs";
import { join } from "node:path";
import { lockExclusive } from "../../ffi/libc.ts";
import { CaveError } from "../core/errors.ts";
import {
  ACTION_PATTERN,
  type AuditEvent,
  type AuditRecord,
  canonicalText,
  GENESIS,
  hashCanonical,
  OUTCOMES,
  parseLine,
  rfc3339,
  SEGMENT_PATTERN,
  segmentName,
  withSignature,
} from "./format.ts";
import { type AuditKeys, loadOrCreateKeys, publicKeyPem } from "./keys.ts";

export const AUDIT_DIR = "audit";
export const HEAD_FILE = "head.json";
export const LOCK_FILE = "lock";
export const DEFAULT_ROTATE_BYTES = 64 * 1024 * 1024;
/** The longest line accepted: a line is one write(2), and readers scan back for newlines. */
export const MAX_LINE_BYTES = 64 * 1024;

export interface AuditLogOptions {
  /** cave's data directory (src/db/paths.ts); the log is <dataDir>/audit/. */
  dataDir: string;
  /** Start a new file when the current one would pass this size (default 64 MiB). */
  rotateBytes?: number;
  /** Start a new file at each UTC day boundary (default true). */
  rotateDaily?: boolean;
  /** The clock (tests). */
  now?: () => Date;
}

/** The chain's end as read under the lock: where the next line goes and what it links to. */
interface Tail {
  file: string | null;
  size: number;
  seq: number;
  hash: string;
  /** UTC date (YYYY-MM-DD) of the last line of `file`. */
  day: string | null;
}

/** The directory holding an audit log, for a data directory. */
export function auditDir(dataDir: string): string {
  return join(dataDir, AUDIT_DIR);
}

export class AuditLog {
  readonly dir: string;
  private readonly keys: AuditKeys;
  private readonly rotateBytes: number;
  private readonly rotateDaily: boolean;
  private readonly now: () => Date;
  private cached: Tail | null = null;

  private constructor(dir: string, keys: AuditKeys, opts: AuditLogOptions) {
    this.dir = dir;
    this.keys = keys;
    this.rotateBytes = opts.rotateBytes ?? DEFAULT_ROTATE_BYTES;
    this.rotateDaily = opts.rotateDaily ?? true;
    this.now = opts.now ?? (() => new Date());
  }

  /** Opens (creating on first use: directory 0700, key pair, lock) the audit log of a data directory. */
  static open(opts: AuditLogOptions): AuditLog {
    if (opts.rotateBytes !== undefined && !(Number.isSafeInteger(opts.rotateBytes) && opts.rotateBytes > 0)) {
      throw new CaveError("AUDIT_INVALID", `rotateBytes ${opts.rotateBytes} is not a positive whole number`);
    }
    const dir = auditDir(opts.dataDir);
    io(`create ${dir}`, () => mkdirSync(dir, { recursive: true, mode: 0o700 }));
    const keys = withLock(dir, () => loadOrCreateKeys(dir));
    return new AuditLog(dir, keys, opts);
  }

  get publicKey(): KeyObject {
    return this.keys.publicKey;
  }

  publicKeyPem(): string {
    return publicKeyPem(this.keys.publicKey);
  }

  /** Appends one event durably (fsync'd before it returns) and returns the line as stored. */
  append(event: AuditEvent): AuditRecord {
    return this.appendMany([event])[0] as AuditRecord;
  }

  /**
   * Appends events in order with one lock, one fsync per file and one head update: the cheap
   * way to record many events. Each line is still one write(2). All are checked before any is written.
   */
  appendMany(events: readonly AuditEvent[]): AuditRecord[] {
    events.forEach(checkEvent);
    if (events.length === 0) return [];
    return withLock(this.dir, () => {
      const steps = this.appendSteps(events);
      let r = steps.next();
      while (!r.done) {
        let failed: unknown = null;
        try {
          const step = r.value;
          if ("fsync" in step) fsyncSync(step.fsync);
          else renameSync(step.rename[0], step.rename[1]);
        } catch (e) {
          failed = e;
        }
        r = failed === null ? steps.next() : steps.throw(failed);
      }
      return r.value;
    });
  }

  /**
   * appendMany with the fsyncs and the head's rename on libuv's thread pool, so a server's event
   * loop is not blocked for them (~2 ms a batch, measured as +1–2 ms on every API exec; the
   * rename over the old head alone was ~0.4 ms on ext4). The same steps and the same
   * guarantees: resolved once the lines and the head are on disk. One call at a time per
   * process (the flock is held across the awaits; the server's AuditQueue flushes one batch at
   * a time).
   */
  async appendManyAsync(events: readonly AuditEvent[]): Promise<AuditRecord[]> {
    events.forEach(checkEvent);
    if (events.length === 0) return [];
    const lock = takeLock(this.dir);
    try {
      const steps = this.appendSteps(events);
      let r = steps.next();
      while (!r.done) {
        const step = r.value;
        const failed = await new Promise<unknown>((resolve) => {
          const done = (e: NodeJS.ErrnoException | null) => resolve(e ?? null);
          if ("fsync" in step) fsync(step.fsync, done);
          else rename(step.rename[0], step.rename[1], done);
        });
        r = failed === null ? steps.next() : steps.throw(failed);
      }
      return r.value;
    } finally {
      closeSync(lock);
    }
  }

  /**
   * The append itself, under the caller's lock. It yields each descriptor that must reach the
   * disk before it goes on (the segment files, a new file's directory, the new head) and the
   * driver fsyncs it, synchronously or not, and last the head's rename into place; a failed
   * step is thrown back in. All or nothing:
   * lines that reached a file before a later step failed (a full disk fails the head's new file
   * after the appends fit) are cut off again, so a caller that retries the batch does not write
   * its events twice.
   */
  private *appendSteps(events: readonly AuditEvent[]): Generator<Step, AuditRecord[], void> {
    let tail = this.readTail();
    const out: AuditRecord[] = [];
    const groups: { file: string; fresh: boolean; lines: Buffer[] }[] = [];
    for (const e of events) {
      const seq = tail.seq + 1;
      const time = rfc3339(this.now());
      const day = time.slice(0, 10);
      const unsigned = {
        seq,
        time,
        actor: e.actor,
        action: e.action,
        target: e.target,
        outcome: e.outcome,
        ...(e.reason !== undefined ? { reason: e.reason } : {}),
        request_id: e.requestId,
        ...(e.details !== undefined ? { details: e.details } : {}),
        prev: tail.hash,
      };
      const canonical = canonicalText(unsigned);
      const sig = sign(null, Buffer.from(canonical), this.keys.privateKey).toString("base64");
      const line = Buffer.from(`${withSignature(canonical, sig)}\n`);
      if (line.length > MAX_LINE_BYTES) {
        throw new CaveError(
          "AUDIT_INVALID",
          `an audit event of ${line.length} bytes is longer than ${MAX_LINE_BYTES}`,
          {
            hint: "keep details small: ids and counts, not payloads",
          },
        );
      }
      const rotate =
        tail.file === null ||
        (this.rotateDaily && tail.day !== null && tail.day !== day) ||
        (tail.size > 0 && tail.size + line.length > this.rotateBytes);
      const file = rotate ? segmentName(seq) : (tail.file as string);
      const last = groups[groups.length - 1];
      if (last && last.file === file) last.lines.push(line);
      else groups.push({ file, fresh: rotate, lines: [line] });
      out.push({ ...unsigned, sig });
      tail = { file, size: (rotate ? 0 : tail.size) + line.length, seq, hash: hashCanonical(canonical), day };
    }

    const undo = groups.map((g) => {
      const path = join(this.dir, g.file);
      return { path, size: g.fresh || !existsSync(path) ? null : statSync(path).size };
    });
    try {
      for (const g of groups) {
        const path = join(this.dir, g.file);
        const fd = io(`open ${path}`, () =>
          openSync(path, constants.O_WRONLY | constants.O_APPEND | constants.O_CREAT, 0o600),
        );
        try {
          io(`append to ${path}`, () => {
            for (const line of g.lines) {
              const n = writeSync(fd, line);
              // A short write leaves a torn line; the next append's readTail cuts it off.
              if (n !== line.length) throw new Error(`short write: ${n} of ${line.length} bytes`);
            }
          });
          yield* synced(fd, `fsync ${path}`);
        } finally {
          closeSync(fd);
        }
        if (g.fresh) {
          const dir = io(`open ${this.dir}`, () => openSync(this.dir, constants.O_RDONLY | constants.O_DIRECTORY));
          try {
            yield* synced(dir, `fsync ${this.dir}`);
          } finally {
            closeSync(dir);
          }
        }
      }
      // head.json: the last seq, its hash and file, signed like a line; replaced atomically.
      const canonical = JSON.stringify({ seq: tail.seq, hash: tail.hash, file: tail.file, time: rfc3339(this.now()) });
      const sig = sign(null, Buffer.from(canonical), this.keys.privateKey).toString("base64");
      const tmp = join(this.dir, `${HEAD_FILE}.tmp`);
      const fd = io(`write ${tmp}`, () => openSync(tmp, "w", 0o600));
      try {
        io(`write ${tmp}`, () => writeSync(fd, `${withSignature(canonical, sig)}\n`));
        yield* synced(fd, `write ${tmp}`);
      } finally {
        closeSync(fd);
      }
      yield* handOff({ rename: [tmp, join(this.dir, HEAD_FILE)] }, `write ${tmp}`);
    } catch (e) {
      this.cached = null;
      for (const u of undo) {
        try {
          if (u.size === null) rmSync(u.path, { force: true });
          else truncateSync(u.path, u.size);
        } catch {
          // the next append's readTail cuts a torn tail; a whole extra line stays (and verifies)
        }
      }
      throw e;
    }
    this.cached = tail;
    return out;
  }

  /** The chain's end, from the cache when the newest file is as this process left it. */
  private readTail(): Tail {
    const segments = io(`list ${this.dir}`, () => listSegmentNames(this.dir));
    for (let i = segments.length - 1; i >= 0; i--) {
      const file = segments[i] as string;
      const path = join(this.dir, file);
      const tail = io(`read ${path}`, () => {
        const fd = openSync(path, constants.O_RDWR);
        try {
          const size = fstatSync(fd).size;
          const c = this.cached;
          if (c && c.file === file && c.size === size) return c;
          return lastLineOf(fd, size, path, file);
        } finally {
          closeSync(fd);
        }
      });
      if (tail) return tail;
    }
    return { file: null, size: 0, seq: 0, hash: GENESIS, day: null };
  }
}

/** Segment files of an audit directory in chain order (by the first seq in their names). */
export function listSegmentNames(dir: string): string[] {
  return readdirSync(dir)
    .filter((n) => SEGMENT_PATTERN.test(n))
    .sort((a, b) => Number(SEGMENT_PATTERN.exec(a)?.[1]) - Number(SEGMENT_PATTERN.exec(b)?.[1]));
}

/**
 * The tail state of one segment, or null when it holds no complete line. A last line without
 * its newline is a write that never finished (never acknowledged: no fsync returned for it),
 * and is cut off so the next line does not fuse with it.
 */
function lastLineOf(fd: number, size: number, path: string, file: string): Tail | null {
  const end = completeEnd(fd, size);
  if (end < size) ftruncateSync(fd, end);
  if (end === 0) return null;
  const start = lineStart(fd, end - 1);
  const buf = Buffer.alloc(end - 1 - start);
  readSync(fd, buf, 0, buf.length, start);
  const p = parseLine(buf);
  if (!p.ok) {
    throw new CaveError(
      "AUDIT_CORRUPT",
      `the last line of ${path} is unreadable (${p.problem}); cannot continue the chain`,
      {
        hint: `run \`cave audit verify ${path}\`, and move the damaged file aside only after keeping a copy`,
      },
    );
  }
  return { file, size: end, seq: p.record.seq, hash: p.hash, day: p.record.time.slice(0, 10) };
}

/** Offset just past the last newline (0 when there is none). */
function completeEnd(fd: number, size: number): number {
  let pos = size;
  const chunk = Buffer.alloc(4096);
  while (pos > 0) {
    const n = Math.min(chunk.length, pos);
    readSync(fd, chunk, 0, n, pos - n);
    const i = chunk.subarray(0, n).lastIndexOf(10);
    if (i >= 0) return pos - n + i + 1;
    pos -= n;
  }
  return 0;
}

/** Offset of the first byte of the line whose newline is at `nl`. */
function lineStart(fd: number, nl: number): number {
  return completeEnd(fd, nl);
}

/** The log's lock file, opened and flock'ed; closing the descriptor releases it. */
function takeLock(dir: string): number {
  const path = join(dir, LOCK_FILE);
  const fd = io(`open ${path}`, () => openSync(path, "a", 0o600));
  try {
    io(`lock ${path}`, () => lockExclusive(fd));
  } catch (e) {
    closeSync(fd);
    throw e;
  }
  return fd;
}

function withLock<T>(dir: string, f: () => T): T {
  const fd = takeLock(dir);
  try {
    return f();
  } finally {
    closeSync(fd);
  }
}

/** What appendSteps hands its driver to do, synchronously or on the thread pool. */
type Step = { fsync: number } | { rename: [from: string, to: string] };

/** Hands `fd` to the driver to fsync; its failure comes back as AUDIT_IO naming the step. */
function synced(fd: number, step: string): Generator<Step, void, void> {
  return handOff({ fsync: fd }, step);
}

/** Hands a step to the driver; its failure comes back as AUDIT_IO naming `what`. */
function* handOff(s: Step, what: string): Generator<Step, void, void> {
  try {
    yield s;
  } catch (e) {
    io(what, () => {
      throw e;
    });
  }
}

/** Runs an I/O step, turning a foreign error into AUDIT_IO that names the step. */
function io<T>(step: string, f: () => T): T {
  try {
    return f();
  } catch (e) {
    if (e instanceof CaveError) throw e;
    const code = (e as NodeJS.ErrnoException).code ?? (e as Error).message;
    throw new CaveError("AUDIT_IO", `cannot ${step}: ${code}`, {
      hint: "check the data directory's permissions and free space",
      cause: e,
    });
  }
}

function checkEvent(e: AuditEvent, i: number): void {
  const bad = (what: string) =>
    new CaveError("AUDIT_INVALID", `audit event ${i}: ${what}`, { hint: "see AuditEvent in src/audit/format.ts" });
  if (typeof e.actor !== "string" || e.actor === "") throw bad("actor must be a non-empty string");
  if (typeof e.action !== "string" || !ACTION_PATTERN.test(e.action)) {
    throw bad(`action ${JSON.stringify(e.action)} is not of the form noun.verb`);
  }
  if (typeof e.target !== "string") throw bad("target must be a string");
  if (!OUTCOMES.includes(e.outcome))
    throw bad(`outcome ${JSON.stringify(e.outcome)} is not success, failure or denied`);
  if (e.reason !== undefined && typeof e.reason !== "string") throw bad("reason must be a string");
  if (e.requestId !== null && typeof e.requestId !== "string") throw bad("requestId must be a string or null");
  if (e.details !== undefined) {
    if (typeof e.details !== "object" || e.details === null || Array.isArray(e.details)) {
      throw bad("details must be a JSON object");
    }
    try {
      JSON.stringify(e.details);
    } catch (err) {
      throw bad(`details is not JSON: ${(err as Error).message}`);
    }
  }
}
