// The server's audit queue fails closed: when the audit log cannot be written (here: a real,
// full tmpfs, ENOSPC), the events are held, the operator is told once, every request that needs
// a key is refused (AUDIT_UNAVAILABLE → 503), and once space is back the held events are
// written in order and the chain verifies. Needs root to mount the small tmpfs.
import { afterEach, describe, expect, test } from "bun:test";
import { closeSync, mkdtempSync, openSync, rmSync, unlinkSync, writeSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { AuditLog, verifyAudit } from "../../../src/audit/index.ts";
import { isCaveError } from "../../../src/core/errors.ts";
import { AuditQueue } from "../../../src/server/audit.ts";
import { statusFor } from "../../../src/server/http.ts";

const root = process.getuid?.() === 0;
const mounts: string[] = [];

afterEach(() => {
  for (const m of mounts.splice(0)) {
    Bun.spawnSync(["umount", "-l", m]);
    rmSync(m, { recursive: true, force: true });
  }
});

/** A 512 KiB tmpfs: small enough to fill in a moment. */
function smallDisk(): string {
  const dir = mkdtempSync(join(tmpdir(), "cave-audit-full-"));
  const r = Bun.spawnSync(["mount", "-t", "tmpfs", "-o", "size=512k,mode=0700", "tmpfs", dir]);
  if (r.exitCode !== 0) throw new Error(`mount tmpfs: ${r.stderr.toString()}`);
  mounts.push(dir);
  return dir;
}

/** Writes zeros until the file system is full; returns the filler's path. */
function fill(dir: string): string {
  const path = join(dir, "filler");
  const fd = openSync(path, "w");
  const chunk = new Uint8Array(64 * 1024);
  try {
    for (;;) writeSync(fd, chunk);
  } catch (e) {
    expect((e as NodeJS.ErrnoException).code).toBe("ENOSPC");
  } finally {
    closeSync(fd);
  }
  return path;
}

const event = (n: number) => ({
  actor: "key:0123456789ab",
  action: "sandbox.exec",
  target: `sandbox:${n}`,
  outcome: "success" as const,
  requestId: `req-${n}`,
});

describe.skipIf(!root)(`the audit queue fails closed${root ? "" : " (skipped: mounting a tmpfs needs root)"}`, () => {
  test("a full disk holds the events, refuses requests with 503, and writes them in order once space is back", async () => {
    const dataDir = smallDisk();
    const log = AuditLog.open({ dataDir });
    const warnings: string[] = [];
    const queue = new AuditQueue(log, (m) => warnings.push(m));

    queue.record(event(1));
    expect(await queue.flush()).toBe(true);
    queue.ready();

    const filler = fill(dataDir);
    for (let n = 2; n <= 5; n++) queue.record(event(n));
    expect(await queue.flush()).toBe(false);
    expect(warnings.filter((w) => w.includes("WRITING THE AUDIT LOG FAILED"))).toHaveLength(1);

    let refused: unknown = null;
    try {
      queue.ready();
    } catch (e) {
      refused = e;
    }
    expect(isCaveError(refused) && refused.code).toBe("AUDIT_UNAVAILABLE");
    expect(statusFor("AUDIT_UNAVAILABLE")).toBe(503);
    // Still failing: said once per streak, not once per attempt.
    queue.record(event(6));
    expect(await queue.flush()).toBe(false);
    expect(warnings.filter((w) => w.includes("WRITING THE AUDIT LOG FAILED"))).toHaveLength(1);

    unlinkSync(filler);
    expect(await queue.flush()).toBe(true); // what the retry timer does every second
    queue.ready(); // requests get through again
    expect(warnings.some((w) => w.includes("writable again (5 queued events written)"))).toBe(true);
    await queue.close();

    const report = verifyAudit({ paths: [join(dataDir, "audit")] });
    expect(report.findings).toEqual([]);
    expect(report.ok).toBe(true);
    expect(report.lines).toBe(6);
  });
});
