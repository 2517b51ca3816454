// Tampering with a copy of a real audit log, one way at a time, and the exact finding
// `verifyAudit` reports for it: file, line, kind, expected and found.
import { afterAll, describe, expect, test } from "bun:test";
import { createHash, generateKeyPairSync, sign } from "node:crypto";
import { readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { parsePublicKey, verifyAudit } from "../../../src/audit/index.ts";
import { lines, makeLog, removeTempDirs, tamperCopy, writeLines } from "./_helpers.ts";

afterAll(removeTempDirs);

const SEG1 = "audit-000000000001.jsonl";

/** The canonical bytes and their hash, computed here as docs/governance.md says (not by the module). */
function canonical(line: string): string {
  return `${line.slice(0, line.length - 98)}}`;
}
function hashOf(line: string): string {
  return createHash("sha256").update(canonical(line)).digest("hex");
}

function verifyCopy(dir: string, pubkey: string) {
  return verifyAudit({
    paths: [dir],
    publicKey: { key: parsePublicKey(readFileSync(pubkey, "utf8"), pubkey), source: pubkey },
  });
}

describe("audit verify on a tampered copy", () => {
  test("an untouched copy verifies with the trusted key and no findings", () => {
    const { log } = makeLog(10);
    const { dir, pubkey } = tamperCopy(log);
    const r = verifyCopy(dir, pubkey);
    expect(r.findings).toEqual([]);
    expect(r.ok).toBe(true);
    expect([r.lines, r.firstSeq, r.lastSeq, r.head?.seq]).toEqual([10, 1, 10, 10]);
  });

  test("an edited field is reported as an edited line, at its file and line", () => {
    const { log } = makeLog(10);
    const { dir, pubkey } = tamperCopy(log);
    const file = join(dir, SEG1);
    const ls = lines(file);
    ls[3] = (ls[3] as string).replace('"outcome":"success"', '"outcome":"failure"');
    writeLines(file, ls);
    expect(verifyCopy(dir, pubkey).findings).toEqual([
      {
        kind: "edited",
        file,
        line: 4,
        expected: "seq 4 as it was signed",
        found: "content that does not match its signature (it says seq 4, action sandbox.exec)",
        message: "the line was changed after it was signed",
      },
    ]);
  });

  test("a deleted line is reported where the seq jumps, with the hashes expected and found", () => {
    const { log } = makeLog(10);
    const { dir, pubkey } = tamperCopy(log);
    const file = join(dir, SEG1);
    const ls = lines(file);
    const [l4, l5] = [ls[3] as string, ls[4] as string];
    ls.splice(4, 1);
    writeLines(file, ls);
    expect(verifyCopy(dir, pubkey).findings).toEqual([
      {
        kind: "deleted",
        file,
        line: 5,
        expected: `seq 5 with prev ${hashOf(l4)}`,
        found: `seq 6 with prev ${hashOf(l5)}`,
        message: "1 line(s) missing: seq 5",
      },
    ]);
  });

  test("a forged line inserted into the chain (well-formed, correctly chained, signed by another key) is reported as inserted", () => {
    const { log } = makeLog(10);
    const { dir, pubkey } = tamperCopy(log);
    const file = join(dir, SEG1);
    const ls = lines(file);
    const forger = generateKeyPairSync("ed25519").privateKey;
    const body = `{"seq":4,"time":"2026-03-01T10:00:00.003Z","actor":"admin","action":"key.issue","target":"key_evil","outcome":"success","request_id":null,"prev":"${hashOf(ls[2] as string)}"}`;
    const forged = `${body.slice(0, -1)},"sig":"${sign(null, Buffer.from(body), forger).toString("base64")}"}`;
    ls.splice(3, 0, forged);
    writeLines(file, ls);
    expect(verifyCopy(dir, pubkey).findings).toEqual([
      {
        kind: "inserted",
        file,
        line: 4,
        expected: `seq 4 next (${file}:5)`,
        found: "a line that is not signed by the key (it says seq 4, action key.issue)",
        message: "a forged line was inserted into the chain",
      },
    ]);
  });

  test("a copy of a genuine line inserted later is reported as inserted, naming the original", () => {
    const { log } = makeLog(10);
    const { dir, pubkey } = tamperCopy(log);
    const file = join(dir, SEG1);
    const ls = lines(file);
    ls.splice(6, 0, ls[1] as string);
    writeLines(file, ls);
    expect(verifyCopy(dir, pubkey).findings).toEqual([
      {
        kind: "inserted",
        file,
        line: 7,
        expected: "seq 7",
        found: `a second copy of seq 2 (the first is at ${file}:2)`,
        message: "a copy of an earlier line was inserted",
      },
    ]);
  });

  test("two swapped lines are reported once, as reordered", () => {
    const { log } = makeLog(10);
    const { dir, pubkey } = tamperCopy(log);
    const file = join(dir, SEG1);
    const ls = lines(file);
    [ls[3], ls[4]] = [ls[4] as string, ls[3] as string];
    writeLines(file, ls);
    expect(verifyCopy(dir, pubkey).findings).toEqual([
      {
        kind: "reordered",
        file,
        line: 4,
        expected: "seq 4",
        found: `seq 5; seq 4 come(s) later, at ${file}:5`,
        message: `lines are out of order: seq 4 should come before ${file}:4`,
      },
    ]);
  });

  test("a tail cut at a line boundary is reported against the signed head", () => {
    const { log } = makeLog(10);
    const { dir, pubkey } = tamperCopy(log);
    const file = join(dir, SEG1);
    writeLines(file, lines(file).slice(0, 8));
    expect(verifyCopy(dir, pubkey).findings).toEqual([
      {
        kind: "truncated",
        file,
        line: 8,
        expected: `the log to end at seq 10 (${join(dir, "head.json")}, in ${SEG1})`,
        found: "its last line is seq 8",
        message: "2 line(s) missing at the end",
      },
    ]);
  });

  test("a tail cut in the middle of a line reports the cut line and the missing seq", () => {
    const { log } = makeLog(10);
    const { dir, pubkey } = tamperCopy(log);
    const file = join(dir, SEG1);
    const bytes = readFileSync(file);
    writeFileSync(file, bytes.subarray(0, bytes.length - 40));
    const r = verifyCopy(dir, pubkey);
    const lastLen = Buffer.byteLength(lines(join(log.dir, SEG1))[9] as string);
    expect(r.findings).toEqual([
      {
        kind: "truncated",
        file,
        line: 10,
        expected: "a complete line ending in a newline",
        found: `${lastLen + 1 - 40} bytes without a newline`,
        message: "the last line is cut off",
      },
      {
        kind: "truncated",
        file,
        line: 9,
        expected: `the log to end at seq 10 (${join(dir, "head.json")}, in ${SEG1})`,
        found: "its last line is seq 9",
        message: "1 line(s) missing at the end",
      },
    ]);
  });

  test("a whole rotated file dropped from the middle is a deletion at the next file's first line", () => {
    const { log } = makeLog(12, { rotateBytes: 1200 });
    const { dir, pubkey } = tamperCopy(log);
    const files = readdirSync(dir)
      .filter((f) => f.endsWith(".jsonl"))
      .sort();
    expect(files.length).toBeGreaterThanOrEqual(3);
    const [f0, f1, f2] = files as [string, string, string];
    const firstOf = (f: string) => JSON.parse(lines(join(dir, f))[0] as string).seq as number;
    const [s1, s2] = [firstOf(f1), firstOf(f2)];
    const lastOf0 = lines(join(dir, f0)).at(-1) as string;
    const firstOf2 = lines(join(dir, f2))[0] as string;
    rmSync(join(dir, f1));
    expect(verifyCopy(dir, pubkey).findings).toEqual([
      {
        kind: "deleted",
        file: join(dir, f2),
        line: 1,
        expected: `seq ${s1} with prev ${hashOf(lastOf0)}`,
        found: `seq ${s2} with prev ${JSON.parse(firstOf2).prev}`,
        message: `${s2 - s1} line(s) missing: seq ${s1}–${s2 - 1} (between ${join(dir, f0)}:${s1 - 1} and the first line of ${f2}: a file may be missing)`,
      },
    ]);
  });

  test("the last rotated file dropped is a truncated tail", () => {
    const { log } = makeLog(12, { rotateBytes: 1200 });
    const { dir, pubkey } = tamperCopy(log);
    const files = readdirSync(dir)
      .filter((f) => f.endsWith(".jsonl"))
      .sort();
    const last = files.at(-1) as string;
    const before = files.at(-2) as string;
    const lastSeqBefore = JSON.parse(lines(join(dir, before)).at(-1) as string).seq;
    rmSync(join(dir, last));
    expect(verifyCopy(dir, pubkey).findings).toEqual([
      {
        kind: "truncated",
        file: join(dir, before),
        line: lines(join(dir, before)).length,
        expected: `the log to end at seq 12 (${join(dir, "head.json")}, in ${last})`,
        found: `its last line is seq ${lastSeqBefore}`,
        message: `${12 - lastSeqBefore} line(s) missing at the end`,
      },
    ]);
  });

  test("a log re-signed with a new key pair (public key and head replaced too) fails against the trusted key, and passes only when the directory is trusted", () => {
    const { log } = makeLog(5);
    const { dir, pubkey } = tamperCopy(log);
    const { privateKey, publicKey } = generateKeyPairSync("ed25519");
    const file = join(dir, SEG1);
    let prev = "0".repeat(64);
    const resigned = lines(file).map((l) => {
      const body = canonical(l)
        .replace(/"prev":"[0-9a-f]{64}"/, `"prev":"${prev}"`)
        .replace('"actor":"key_3"', '"actor":"nobody"');
      prev = createHash("sha256").update(body).digest("hex");
      return `${body.slice(0, -1)},"sig":"${sign(null, Buffer.from(body), privateKey).toString("base64")}"}`;
    });
    writeLines(file, resigned);
    const head = `{"seq":5,"hash":"${prev}","file":"${SEG1}","time":"2026-03-01T10:00:01.000Z"}`;
    writeFileSync(
      join(dir, "head.json"),
      `${head.slice(0, -1)},"sig":"${sign(null, Buffer.from(head), privateKey).toString("base64")}"}\n`,
    );
    writeFileSync(join(dir, "signing-key.pub.pem"), publicKey.export({ type: "spki", format: "pem" }));

    const trusted = parsePublicKey(readFileSync(pubkey, "utf8"), pubkey);
    const r = verifyCopy(dir, pubkey);
    expect(r.findings.map((f) => [f.kind, f.file, f.line, f.message])).toEqual([
      [
        "bad-signature",
        join(dir, "signing-key.pub.pem"),
        null,
        "the public key kept beside the log is not the key you trust: it was replaced",
      ],
      ["bad-signature", join(dir, "head.json"), 1, "the signed head was changed or signed by another key"],
      [
        "bad-signature",
        file,
        null,
        "the log was signed by another key (a replaced key pair), or the key given is not this log's",
      ],
    ]);
    expect(r.findings[2]?.found).toBe("no line of 5 verifies with it");
    expect(r.key.fingerprint).toBe(verifyAudit({ paths: [log.dir] }).key.fingerprint);
    expect(trusted.equals(log.publicKey)).toBe(true);

    // Trusting the directory's own key, the forgery is consistent: that is why --pubkey exists.
    const self = verifyAudit({ paths: [dir] });
    expect(self.ok).toBe(true);
    expect(self.notes[0]).toContain("this trusts the directory");
  });

  test("a line that is not JSON is reported as bad-json, and the chain around it still checks", () => {
    const { log } = makeLog(6);
    const { dir, pubkey } = tamperCopy(log);
    const file = join(dir, SEG1);
    const ls = lines(file);
    ls[2] = "{garbage";
    writeLines(file, ls);
    expect(verifyCopy(dir, pubkey).findings).toEqual([
      {
        kind: "bad-json",
        file,
        line: 3,
        expected: "one JSON object with the audit members, ending in a sig member",
        found: 'the line does not end with a "sig" member of 88 base64 characters',
        message: "the line cannot be read",
      },
    ]);
  });
});
