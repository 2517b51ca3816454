// The audit log's writer on real files: what a line holds, file modes, rotation by size and
// by day with the chain continuing across files, a torn last write, several processes
// appending at once, and an independent check of the signatures with openssl.
import { afterAll, describe, expect, test } from "bun:test";
import { createHash, createPublicKey, verify as edVerify } from "node:crypto";
import { appendFileSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { AuditLog, verifyAudit } from "../../../src/audit/index.ts";
import { clock, lines, makeLog, removeTempDirs, tempDir } from "./_helpers.ts";

afterAll(removeTempDirs);

const BUN = resolve(import.meta.dir, "../../../node_modules/.bin/bun");
const APPENDER = resolve(import.meta.dir, "fixtures/appender.ts");
const segments = (dir: string) =>
  readdirSync(dir)
    .filter((f) => f.endsWith(".jsonl"))
    .sort();
const mode = (p: string) => statSync(p).mode & 0o777;

describe("AuditLog", () => {
  test("append returns the stored line; the line holds every member in order, chained from the genesis value", () => {
    const dataDir = tempDir();
    const log = AuditLog.open({ dataDir, now: clock("2026-03-01T10:00:00.000Z") });
    const a = log.append({ actor: "key_ab12", action: "auth.login", target: "", outcome: "success", requestId: "r1" });
    const b = log.append({
      actor: "alice@example.com",
      action: "sandbox.exec",
      target: "box-1",
      outcome: "denied",
      reason: "role session may not exec into box-1",
      requestId: null,
      details: { argv: ["sh", "-c", "id"] },
    });
    const stored = lines(join(log.dir, "audit-000000000001.jsonl"));
    expect(stored.map((l) => Object.keys(JSON.parse(l)))).toEqual([
      ["seq", "time", "actor", "action", "target", "outcome", "request_id", "prev", "sig"],
      ["seq", "time", "actor", "action", "target", "outcome", "reason", "request_id", "details", "prev", "sig"],
    ]);
    expect(stored.map((l) => JSON.parse(l))).toEqual([a, b]);
    expect(a).toEqual({
      seq: 1,
      time: "2026-03-01T10:00:00.000Z",
      actor: "key_ab12",
      action: "auth.login",
      target: "",
      outcome: "success",
      request_id: "r1",
      prev: "0".repeat(64),
      sig: a.sig,
    });
    const canonical1 = `${(stored[0] as string).slice(0, -98)}}`;
    expect(b.prev).toBe(createHash("sha256").update(canonical1).digest("hex"));
    expect(b.time).toBe("2026-03-01T10:00:00.002Z"); // the clock is read once per line (and once for the head)
    expect(verifyAudit({ paths: [log.dir] }).ok).toBe(true);
  });

  test("the audit directory is 0700, the log, head and private key 0600", () => {
    const { log } = makeLog(1);
    expect(mode(log.dir)).toBe(0o700);
    for (const f of ["audit-000000000001.jsonl", "head.json", "signing-key.pem", "lock"])
      expect([f, mode(join(log.dir, f))]).toEqual([f, 0o600]);
  });

  test("a second open of the same data directory reuses the key pair and continues the chain", () => {
    const { dataDir, log } = makeLog(3);
    const again = AuditLog.open({ dataDir });
    expect(again.publicKeyPem()).toBe(log.publicKeyPem());
    expect(
      again.append({ actor: "a", action: "config.change", target: "cave.yaml", outcome: "success", requestId: null })
        .seq,
    ).toBe(4);
    expect(verifyAudit({ paths: [log.dir] }).findings).toEqual([]);
  });

  test("events that are not well-formed are refused with AUDIT_INVALID and nothing is written", () => {
    const { log } = makeLog(2);
    const before = readFileSync(join(log.dir, "audit-000000000001.jsonl"));
    const good = { actor: "a", action: "key.issue", target: "k", outcome: "success" as const, requestId: null };
    for (const bad of [
      { ...good, actor: "" },
      { ...good, action: "Issue Key" },
      { ...good, outcome: "ok" },
      { ...good, details: [1] },
      { ...good, details: { big: 1n } },
      { ...good, details: { blob: "x".repeat(70_000) } },
    ]) {
      expect(() => log.appendMany([good, bad as never])).toThrow(expect.objectContaining({ code: "AUDIT_INVALID" }));
    }
    expect(readFileSync(join(log.dir, "audit-000000000001.jsonl"))).toEqual(before);
  });

  test("size rotation starts new files named by their first seq, each chained to the last line of the one before", () => {
    const { log } = makeLog(20, { rotateBytes: 1500 });
    const files = segments(log.dir);
    expect(files.length).toBeGreaterThan(3);
    let last: string | null = null;
    let seq = 0;
    for (const f of files) {
      const ls = lines(join(log.dir, f));
      expect(f).toBe(`audit-${String(JSON.parse(ls[0] as string).seq).padStart(12, "0")}.jsonl`);
      expect(statSync(join(log.dir, f)).size).toBeLessThanOrEqual(1500);
      for (const l of ls) {
        const r = JSON.parse(l);
        expect(r.seq).toBe(++seq);
        expect(r.prev).toBe(
          last === null
            ? "0".repeat(64)
            : createHash("sha256")
                .update(`${last.slice(0, -98)}}`)
                .digest("hex"),
        );
        last = l;
      }
    }
    expect(verifyAudit({ paths: [log.dir] }).findings).toEqual([]);
  });

  test("a new UTC day starts a new file", () => {
    const dataDir = tempDir();
    let now = new Date("2026-03-01T23:59:59.998Z");
    const log = AuditLog.open({ dataDir, now: () => now });
    const ev = { actor: "a", action: "sandbox.create", target: "b", outcome: "success" as const, requestId: null };
    log.append(ev);
    log.append(ev);
    now = new Date("2026-03-02T00:00:00.001Z");
    log.append(ev);
    expect(segments(log.dir)).toEqual(["audit-000000000001.jsonl", "audit-000000000003.jsonl"]);
    expect(verifyAudit({ paths: [log.dir] }).ok).toBe(true);
  });

  test("one rotated file verified alone checks inside and says its first link is unchecked; with the file before, the link is checked", () => {
    const { log } = makeLog(12, { rotateBytes: 1200 });
    const [f0, f1] = segments(log.dir) as [string, string];
    const alone = verifyAudit({ paths: [join(log.dir, f1)] });
    const firstSeq = JSON.parse(lines(join(log.dir, f1))[0] as string).seq;
    expect(alone.findings).toEqual([]);
    expect(alone.notes).toEqual([
      `key taken from ${join(log.dir, "signing-key.pub.pem")}: this trusts the directory; give --pubkey with your own copy to rule out a replaced key`,
      `${join(log.dir, f1)}:1 starts at seq ${firstSeq}: its link to the line before (in an earlier file) is unchecked`,
      "no signed head compared: a truncated tail cannot be detected (give the directory or --head)",
    ]);
    const both = verifyAudit({ paths: [join(log.dir, f1), join(log.dir, f0)] });
    expect(both.findings).toEqual([]);
    expect(both.files).toEqual([join(log.dir, f0), join(log.dir, f1)]);
    expect(both.notes.some((n) => n.includes("unchecked"))).toBe(false);
  });

  test("a torn last write (no newline, never acknowledged) is cut off by the next append, which continues the chain", () => {
    const { dataDir, log } = makeLog(3);
    const file = join(log.dir, "audit-000000000001.jsonl");
    appendFileSync(file, '{"seq":4,"time":"2026-');
    expect(verifyAudit({ paths: [log.dir] }).findings.map((f) => f.kind)).toEqual(["truncated"]);
    const r = AuditLog.open({ dataDir, now: clock("2026-03-01T11:00:00.000Z") }).append({
      actor: "a",
      action: "key.revoke",
      target: "k",
      outcome: "success",
      requestId: null,
    });
    expect(r.seq).toBe(4);
    expect(lines(file).map((l) => JSON.parse(l).seq)).toEqual([1, 2, 3, 4]);
    expect(verifyAudit({ paths: [log.dir] }).findings).toEqual([]);
  });

  test("a last line that is unreadable stops appends with AUDIT_CORRUPT instead of forking the chain", () => {
    const { dataDir, log } = makeLog(2);
    appendFileSync(join(log.dir, "audit-000000000001.jsonl"), "not json\n");
    expect(() =>
      AuditLog.open({ dataDir }).append({
        actor: "a",
        action: "key.revoke",
        target: "k",
        outcome: "success",
        requestId: null,
      }),
    ).toThrow(expect.objectContaining({ code: "AUDIT_CORRUPT" }));
  });

  test("four processes appending at once, across rotations, leave one chain with every event", async () => {
    const dataDir = tempDir();
    const procs = [1, 2, 3, 4].map((i) =>
      Bun.spawn([BUN, APPENDER, dataDir, "150", `proc${i}`, "20000"], { stdout: "pipe", stderr: "pipe" }),
    );
    const results = await Promise.all(
      procs.map(async (p) => ({
        code: await p.exited,
        out: await new Response(p.stdout).text(),
        err: await new Response(p.stderr).text(),
      })),
    );
    for (const r of results) expect([r.code, r.err, r.out.startsWith("done 150 ")]).toEqual([0, "", true]);
    const dir = join(dataDir, "audit");
    const report = verifyAudit({ paths: [dir] });
    expect(report.findings).toEqual([]);
    expect([report.lines, report.firstSeq, report.lastSeq, report.head?.seq]).toEqual([600, 1, 600, 600]);
    expect(segments(dir).length).toBeGreaterThan(1);
    const all = segments(dir).flatMap((f) => lines(join(dir, f)).map((l) => JSON.parse(l)));
    for (const i of [1, 2, 3, 4]) {
      // each process's own events are all there, in its order
      expect(all.filter((r) => r.actor === `proc${i}`).map((r) => r.details.n)).toEqual(
        Array.from({ length: 150 }, (_, k) => k),
      );
    }
  }, 60_000); // 600 fsync'd appends take seconds on a busy shared disk; a budget, not a timing assertion
});

describe("independent verification of the documented format", () => {
  test("openssl verifies every line's signature over the canonical bytes, and sha256 of them is the next prev", async () => {
    const { log } = makeLog(6, { rotateBytes: 1200 });
    log.append({
      actor: "ünï",
      action: "policy.create",
      target: "t",
      outcome: "failure",
      reason: "✗",
      requestId: null,
      details: { q: 'a"b\\c' },
    });
    const work = tempDir();
    const pub = join(work, "pub.pem");
    writeFileSync(pub, log.publicKeyPem());
    const all = segments(log.dir).flatMap((f) => lines(join(log.dir, f)));
    let prev = "0".repeat(64);
    for (const [i, line] of all.entries()) {
      // As docs/governance.md says: cut the last 98 bytes (,"sig":"…"}) and close the object.
      const bytes = Buffer.from(line);
      const msg = Buffer.concat([bytes.subarray(0, bytes.length - 98), Buffer.from("}")]);
      const sig = Buffer.from(bytes.subarray(bytes.length - 90, bytes.length - 2).toString(), "base64");
      writeFileSync(join(work, `m${i}`), msg);
      writeFileSync(join(work, `s${i}`), sig);
      const v = Bun.spawnSync([
        "openssl",
        "pkeyutl",
        "-verify",
        "-pubin",
        "-inkey",
        pub,
        "-rawin",
        "-in",
        join(work, `m${i}`),
        "-sigfile",
        join(work, `s${i}`),
      ]);
      expect([i, v.exitCode, v.stdout.toString().trim()]).toEqual([i, 0, "Signature Verified Successfully"]);
      const d = Bun.spawnSync(["openssl", "dgst", "-sha256", "-r", join(work, `m${i}`)]);
      expect(JSON.parse(line).prev).toBe(prev);
      prev = d.stdout.toString().split(" ")[0] as string;
    }
    // node:crypto, with the raw key from `cave audit pubkey --raw`, agrees; a flipped byte does not verify.
    const raw = (createPublicKey(log.publicKeyPem()).export({ format: "der", type: "spki" }) as Buffer).subarray(12);
    const key = createPublicKey({ key: { kty: "OKP", crv: "Ed25519", x: raw.toString("base64url") }, format: "jwk" });
    const m = readFileSync(join(work, "m0"));
    expect(edVerify(null, m, key, readFileSync(join(work, "s0")))).toBe(true);
    m[5] = (m[5] as number) ^ 1;
    expect(edVerify(null, m, key, readFileSync(join(work, "s0")))).toBe(false);
    // and the signed head is over the same kind of bytes
    const head = readFileSync(join(log.dir, "head.json"), "utf8").trimEnd();
    const hb = Buffer.from(head);
    expect(
      edVerify(
        null,
        Buffer.concat([hb.subarray(0, hb.length - 98), Buffer.from("}")]),
        key,
        Buffer.from(head.slice(-90, -2), "base64"),
      ),
    ).toBe(true);
    expect(JSON.parse(head)).toMatchObject({ seq: 7, hash: prev, file: segments(log.dir).at(-1) });
  });
});

describe("the signing key", () => {
  test("a missing private key beside its public key stops appends with AUDIT_KEY instead of starting a new key", () => {
    const { dataDir, log } = makeLog(1);
    rmSync(join(log.dir, "signing-key.pem"));
    expect(() => AuditLog.open({ dataDir })).toThrow(expect.objectContaining({ code: "AUDIT_KEY" }));
  });
});
