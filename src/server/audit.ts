// The server's side of the audit log (src/audit/): requests record events into a small queue
// that is written with one appendManyAsync (one lock, fsyncs on the thread pool) on the next
// timer tick, so an API request never waits for an fsync, not even someone else's, and a burst
// of N requests costs one fsync, not N.
//
// A failed write is never dropped silently: the events stay queued (up to MAX_QUEUED), the
// failure is printed on stderr once per streak, and until a write succeeds again the server
// fails closed: `ready()` throws AUDIT_UNAVAILABLE (503), which http.ts checks before every
// route that needs a key, so nothing security-relevant happens without its record.
import type { AuditEvent, AuditLog } from "../audit/index.ts";
import { CaveError } from "../core/errors.ts";

/** How long events may wait for their fsync (ms): a burst in this window shares one. */
export const AUDIT_FLUSH_DELAY_MS = 5;
/** Events held while the log cannot be written; past this the oldest are lost (and said so). */
const MAX_QUEUED = 100_000;

export interface AuditSink {
  record(event: AuditEvent): void;
}

export class AuditQueue implements AuditSink {
  private queue: AuditEvent[] = [];
  private timer: ReturnType<typeof setTimeout> | null = null;
  private failure: Error | null = null;
  private lost = 0;
  /** The batch being written (one at a time: the log's flock is held across its fsyncs). */
  private writing: Promise<boolean> | null = null;

  constructor(
    private readonly log: AuditLog,
    private readonly warn: (message: string) => void,
  ) {}

  record(event: AuditEvent): void {
    this.queue.push(event);
    if (this.queue.length > MAX_QUEUED) {
      this.queue.shift();
      this.lost++;
    }
    if (!this.timer && !this.writing) this.timer = setTimeout(() => void this.flush(), AUDIT_FLUSH_DELAY_MS);
  }

  /**
   * Writes what is queued now with one appendManyAsync (its fsyncs off the event loop) and
   * resolves to whether the log is writable. A flush while one is writing waits for it first.
   */
  async flush(): Promise<boolean> {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    while (this.writing) await this.writing;
    if (this.queue.length === 0) return this.failure === null;
    const batch = this.queue;
    this.queue = [];
    this.writing = this.write(batch);
    try {
      return await this.writing;
    } finally {
      this.writing = null;
      // Events recorded while this batch was on its way: their timer was not set.
      if (this.queue.length > 0 && !this.timer && this.failure === null) {
        this.timer = setTimeout(() => void this.flush(), AUDIT_FLUSH_DELAY_MS);
      }
    }
  }

  private async write(batch: AuditEvent[]): Promise<boolean> {
    try {
      await this.log.appendManyAsync(batch);
      if (this.failure) this.warn(`audit: the audit log is writable again (${batch.length} queued events written)`);
      this.failure = null;
    } catch (e) {
      // appendManyAsync is all or nothing: the batch goes back to the front, in order.
      this.queue = batch.concat(this.queue);
      if (!this.failure) {
        this.warn(
          `audit: WRITING THE AUDIT LOG FAILED (${(e as Error).message}); ${batch.length} events are held in memory and API requests that need a key are refused with 503 until it works again`,
        );
      }
      this.failure = e as Error;
      // Try again soon: the disk may come back.
      if (!this.timer) this.timer = setTimeout(() => void this.flush(), 1_000);
      this.timer.unref?.();
    }
    if (this.lost > 0) {
      this.warn(`audit: ${this.lost} audit events were lost: the queue was full while the log could not be written`);
      this.lost = 0;
    }
    return this.failure === null;
  }

  /**
   * Throws AUDIT_UNAVAILABLE (503) while the log cannot be written: requests fail closed. The
   * retry runs on its timer (every second), so a recovered disk lets requests through again
   * within a second of it.
   */
  ready(): void {
    if (this.failure === null) return;
    throw new CaveError("AUDIT_UNAVAILABLE", `the audit log cannot be written: ${this.failure?.message}`, {
      hint: "the operator must fix the data directory's audit/ (disk full? permissions?); cave serve retries every second",
    });
  }

  /** Writes the rest (at shutdown); says on stderr what could not be written. */
  async close(): Promise<void> {
    if (!(await this.flush()) && this.queue.length > 0) {
      this.warn(`audit: ${this.queue.length} audit events could not be written at shutdown: ${this.failure?.message}`);
    }
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }
}
