// `cave audit …` through the real CLI entry point (bun src/cli/main.ts): exit codes, stdout
// and stderr together.
import { afterAll, describe, expect, test } from "bun:test";
import { readFileSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { AuditLog, keyFingerprint, publicKeyRaw } from "../../../src/audit/index.ts";
import { clock, lines, makeLog, removeTempDirs, tamperCopy, tempDir, writeLines } from "./_helpers.ts";

afterAll(removeTempDirs);

const ROOT = resolve(import.meta.dir, "../../..");
const BUN = join(ROOT, "node_modules/.bin/bun");
const MAIN = join(ROOT, "src/cli/main.ts");

async function cave(args: string[]): Promise<{ exitCode: number; stdout: string; stderr: string }> {
  const p = Bun.spawn([BUN, MAIN, ...args], {
    stdout: "pipe",
    stderr: "pipe",
    cwd: tempDir(),
    env: { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: "/tmp", NO_COLOR: "1" },
  });
  const [stdout, stderr, exitCode] = await Promise.all([
    new Response(p.stdout).text(),
    new Response(p.stderr).text(),
    p.exited,
  ]);
  return { exitCode, stdout, stderr };
}

describe("cave audit", () => {
  test("pubkey prints the PEM, and --raw the 32 raw bytes as base64", async () => {
    const { dataDir, log } = makeLog(1);
    expect(await cave(["audit", "pubkey", "--data-dir", dataDir])).toEqual({
      exitCode: 0,
      stdout: log.publicKeyPem(),
      stderr: "",
    });
    expect(await cave(["audit", "pubkey", "--raw", "--data-dir", dataDir])).toEqual({
      exitCode: 0,
      stdout: `${publicKeyRaw(log.publicKey)}\n`,
      stderr: "",
    });
  });

  test("verify of an intact log exits 0 and says ok", async () => {
    const { dataDir, log } = makeLog(4);
    const { pubkey } = tamperCopy(log);
    const fp = keyFingerprint(log.publicKey);
    const r = await cave(["audit", "verify", "--data-dir", dataDir, "--pubkey", pubkey]);
    expect(r).toEqual({
      exitCode: 0,
      stdout: `ok: 4 lines (seq 1–4) in 1 file(s), head seq 4, key ${fp}\n`,
      stderr: "",
    });
  });

  test("verify of a tampered copy exits 1 and lists each finding with expected and found; --json gives the report", async () => {
    const { log } = makeLog(6);
    const { dir, pubkey } = tamperCopy(log);
    const file = join(dir, "audit-000000000001.jsonl");
    const ls = lines(file);
    ls[1] = (ls[1] as string).replace('"target":"box-2"', '"target":"box-9"');
    writeLines(file, ls.slice(0, 5));
    const r = await cave(["audit", "verify", dir, "--pubkey", pubkey]);
    expect(r.exitCode).toBe(1);
    expect(r.stderr).toBe("");
    expect(r.stdout).toBe(
      [
        `TAMPERED: 2 finding(s) in 5 lines (seq 1–5) in 1 file(s), head seq 6, key ${keyFingerprint(log.publicKey)}`,
        `${file}:2: edited: the line was changed after it was signed`,
        "  expected: seq 2 as it was signed",
        "  found:    content that does not match its signature (it says seq 2, action sandbox.exec)",
        `${file}:5: truncated: 1 line(s) missing at the end`,
        `  expected: the log to end at seq 6 (${join(dir, "head.json")}, in audit-000000000001.jsonl)`,
        "  found:    its last line is seq 5",
        "",
      ].join("\n"),
    );
    const j = await cave(["audit", "verify", dir, "--pubkey", pubkey, "--json"]);
    expect(j.exitCode).toBe(1);
    const report = JSON.parse(j.stdout);
    expect(report.ok).toBe(false);
    expect(report.findings.map((f: { kind: string; line: number }) => [f.kind, f.line])).toEqual([
      ["edited", 2],
      ["truncated", 5],
    ]);
  });

  test("verify with a --pubkey that is not a key, or a file that does not exist, is a usage error (exit 2)", async () => {
    const { dataDir } = makeLog(1);
    const bad = join(tempDir(), "bad.pem");
    writeFileSync(bad, "hello\n");
    const r1 = await cave(["audit", "verify", "--data-dir", dataDir, "--pubkey", bad]);
    expect([r1.exitCode, r1.stdout, r1.stderr.split("\n")[0]]).toEqual([
      2,
      "",
      `cave: ${bad} is not an Ed25519 public key`,
    ]);
    const r2 = await cave(["audit", "verify", "/nonexistent/audit-000000000001.jsonl"]);
    expect([r2.exitCode, r2.stdout, r2.stderr.split("\n")[0]]).toEqual([
      2,
      "",
      "cave: cannot read /nonexistent/audit-000000000001.jsonl: ENOENT",
    ]);
  });

  test("tail prints the last N events for people, or their stored lines with --json", async () => {
    const { dataDir, log } = makeLog(5, { rotateBytes: 700 });
    log.append({
      actor: "alice",
      action: "key.revoke",
      target: "key_x",
      outcome: "denied",
      reason: "not admin",
      requestId: null,
    });
    const r = await cave(["audit", "tail", "-n", "3", "--data-dir", dataDir]);
    expect(r).toEqual({
      exitCode: 0,
      stdout: [
        "2026-03-01T10:00:00.006Z  key_4  sandbox.exec  box-4  success",
        "2026-03-01T10:00:00.008Z  key_5  sandbox.exec  box-5  success",
        "2026-03-01T10:00:00.010Z  alice  key.revoke  key_x  denied (not admin)",
        "",
      ].join("\n"),
      stderr: "",
    });
    expect([...new Bun.Glob("audit-*.jsonl").scanSync(log.dir)].length).toBeGreaterThan(1); // read across files
    const j = await cave(["audit", "tail", "-n", "2", "--json", "--data-dir", dataDir]);
    expect(
      j.stdout
        .trimEnd()
        .split("\n")
        .map((l) => JSON.parse(l).seq),
    ).toEqual([5, 6]);
  });

  test("tail -f prints new events as they are appended, across a rotation", async () => {
    const dataDir = tempDir();
    const log = AuditLog.open({ dataDir, rotateBytes: 600, now: clock() });
    const ev = (i: number) => ({
      actor: `k${i}`,
      action: "sandbox.start",
      target: `b${i}`,
      outcome: "success" as const,
      requestId: null,
    });
    log.append(ev(1));
    const p = Bun.spawn([BUN, MAIN, "audit", "tail", "-f", "-n", "1", "--json", "--data-dir", dataDir], {
      stdout: "pipe",
      stderr: "pipe",
    });
    const reader = p.stdout.getReader();
    let buf = "";
    const until = async (n: number) => {
      while (buf.split("\n").length - 1 < n) {
        const { value, done } = await reader.read();
        if (done) throw new Error(`tail -f ended early: ${buf}`);
        buf += new TextDecoder().decode(value);
      }
    };
    await until(1);
    for (let i = 2; i <= 6; i++) log.append(ev(i));
    await until(6);
    p.kill();
    await p.exited;
    const seen = buf
      .trimEnd()
      .split("\n")
      .map((l) => JSON.parse(l));
    expect(seen.map((r) => r.actor)).toEqual(["k1", "k2", "k3", "k4", "k5", "k6"]);
    expect(new Set(seen.map((r) => r.seq)).size).toBe(6);
    expect(readFileSync(join(dataDir, "audit", "head.json"), "utf8")).toContain('"seq":6');
    expect((await Array.fromAsync(new Bun.Glob("audit-*.jsonl").scan(join(dataDir, "audit")))).length).toBeGreaterThan(
      1,
    );
  });
});
