// Shared by the audit tests: a fresh data directory per test, a log with known events, and a
// copy of its audit directory to tamper with. Real files, no mocks.
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { AuditLog, type AuditLogOptions } from "../../../src/audit/index.ts";

const made: string[] = [];
/** Removes the directories tempDir() made; each test file calls it in afterAll (bun test
 * evaluates this module once for all files, so a hook registered here would be the first file's). */
export function removeTempDirs(): void {
  for (const dir of made.splice(0)) rmSync(dir, { recursive: true, force: true });
}

export function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), "cave-audit-"));
  made.push(dir);
  return dir;
}

/** A clock that advances 1 ms per call from `start`. */
export function clock(start = "2026-03-01T10:00:00.000Z"): () => Date {
  let t = Date.parse(start);
  return () => new Date(t++);
}

/** A log of `n` events (actor key_<i>, target box-<i>) in a fresh data directory. */
export function makeLog(n: number, opts: Partial<AuditLogOptions> = {}): { dataDir: string; log: AuditLog } {
  const dataDir = tempDir();
  const log = AuditLog.open({ dataDir, now: clock(), ...opts });
  for (let i = 1; i <= n; i++) {
    log.append({
      actor: `key_${i}`,
      action: "sandbox.exec",
      target: `box-${i}`,
      outcome: "success",
      requestId: `req-${i}`,
    });
  }
  return { dataDir, log };
}

/** A copy of the audit directory (to tamper with) and the trusted public key saved outside it. */
export function tamperCopy(log: AuditLog): { dir: string; pubkey: string } {
  const root = tempDir();
  const dir = join(root, "audit");
  cpSync(log.dir, dir, { recursive: true });
  const pubkey = join(root, "trusted.pub.pem");
  writeFileSync(pubkey, log.publicKeyPem());
  return { dir, pubkey };
}

export function lines(file: string): string[] {
  return readFileSync(file, "utf8").split("\n").slice(0, -1);
}

export function writeLines(file: string, ls: string[]): void {
  writeFileSync(file, ls.map((l) => `${l}\n`).join(""));
}
