// Committed means durable: a writer process is SIGKILLed at a random moment while it
// commits; after reopening, every commit it acknowledged is there, no transaction is torn
// and PRAGMA integrity_check is ok. Seeded, so a failing round can be replayed
// (CAVE_DURABILITY_SEED=N).
import { afterAll, beforeAll, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { LocalStore } from "../../../src/db/store/local.ts";

const SEED = Number(process.env.CAVE_DURABILITY_SEED ?? 20261125);
const ROUNDS = 8;
const WRITER = join(import.meta.dir, "fixtures/writer.ts");

/** mulberry32: small, seeded, good enough to pick kill moments. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "cave-durability-"));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/**
 * Runs one writer and kills it after `acks` acknowledgements plus `extraMs` of further
 * writing; returns the numbers it acknowledged (read to the end of its stdout).
 */
async function writeAndKill(path: string, round: number, acks: number, extraMs: number): Promise<number[]> {
  const child = Bun.spawn([process.execPath, WRITER, path, String(round)], { stdout: "pipe", stderr: "pipe" });
  const seen: number[] = [];
  let text = "";
  let killed = false;
  const decoder = new TextDecoder();
  for await (const chunk of child.stdout) {
    text += decoder.decode(chunk, { stream: true });
    const lines = text.split("\n");
    text = lines.pop() ?? "";
    for (const l of lines) seen.push(Number(l));
    if (!killed && seen.length >= acks) {
      killed = true;
      if (extraMs === 0) child.kill("SIGKILL");
      else setTimeout(() => child.kill("SIGKILL"), extraMs);
    }
  }
  await child.exited;
  expect(child.signalCode).toBe("SIGKILL");
  return seen;
}

test("every acknowledged commit survives SIGKILL of the writer, over several seeded rounds", async () => {
  const path = join(dir, "d.db");
  const random = rng(SEED);
  const summary: string[] = [];
  for (let round = 1; round <= ROUNDS; round++) {
    const acks = 1 + Math.floor(random() * 300);
    const extraMs = Math.floor(random() * 40);
    const acked = await writeAndKill(path, round, acks, extraMs);
    expect(acked.length).toBeGreaterThanOrEqual(acks);
    expect(acked).toEqual(Array.from({ length: acked.length }, (_, i) => i + 1));

    const store = new LocalStore(path);
    const last = acked[acked.length - 1] ?? 0;
    const commits = store.executeSync("SELECT count(*), max(n) FROM commits WHERE round = ?1", [round])
      .rows[0] as number[];
    const mirror = store.executeSync("SELECT count(*) FROM mirror WHERE round = ?1", [round]).rows[0] as number[];
    // Everything acknowledged is present; at most the one commit in flight when the kill
    // landed may be there unacknowledged; both tables agree (no torn transaction).
    const [count, max] = commits as [number, number];
    expect(count).toBe(max);
    expect(max - last).toBeGreaterThanOrEqual(0);
    expect(max - last).toBeLessThanOrEqual(1);
    expect(mirror[0]).toBe(count);
    expect(store.pragma("integrity_check")).toEqual([["ok"]]);
    store.close();
    summary.push(`${round}:${last}+${max - last}`);
  }
  // The rounds really did kill at different points.
  expect(new Set(summary.map((s) => s.split(":")[1])).size).toBeGreaterThan(1);
}, 60_000);
