// `cave webhook verify` through the real CLI entry point (bun src/cli/main.ts), on signatures
// made independently with node:crypto's createHmac and on a delivery captured by a real
// receiver: exit codes, stdout and stderr together. Also verifySignature for TS receivers.
import { afterAll, describe, expect, test } from "bun:test";
import { createHmac } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { verifySignature, Webhooks } from "../../../src/governance/webhooks.ts";

const ROOT = resolve(import.meta.dir, "../../..");
const BUN = join(ROOT, "node_modules/.bin/bun");
const MAIN = join(ROOT, "src/cli/main.ts");
const SECRET = "whsec-verify-0123456789";
const tmp = mkdtempSync(join(tmpdir(), "cave-webhook-verify-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

async function cave(args: string[], stdin: string, env: Record<string, string> = {}) {
  const p = Bun.spawn([BUN, MAIN, ...args], {
    stdin: new Blob([stdin]),
    stdout: "pipe",
    stderr: "pipe",
    cwd: tmp,
    env: { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: "/tmp", NO_COLOR: "1", ...env },
  });
  const [stdout, stderr, exitCode] = await Promise.all([
    new Response(p.stdout).text(),
    new Response(p.stderr).text(),
    p.exited,
  ]);
  return { exitCode, stdout, stderr };
}

/** The header as a receiver sees it, made with node:crypto (not the module under test). */
function sign(secret: string, t: number, body: string): string {
  return `t=${t},v1=${createHmac("sha256", secret).update(`${t}.${body}`).digest("hex")}`;
}

const BODY = '{"id":"evt_1","type":"key.revoked","created_at":"2030-01-01T00:00:00.000Z","data":{"key_id":"ck_1"}}';
const T = 1_900_000_000;
const iso = new Date(T * 1000).toISOString();

describe("cave webhook verify", () => {
  test("a good signature within the tolerance is valid: exit 0", async () => {
    expect(
      await cave(["webhook", "verify", "--secret", SECRET, "--now", String(T + 299), sign(SECRET, T, BODY)], BODY),
    ).toEqual({
      exitCode: 0,
      stdout: `valid: signed at ${iso}\n`,
      stderr: "",
    });
  });

  test("the whole header line is accepted, and the secret can come from the environment or a file", async () => {
    const line = `X-Cave-Signature: ${sign(SECRET, T, BODY)}`;
    const ok = { exitCode: 0, stdout: `valid: signed at ${iso}\n`, stderr: "" };
    expect(await cave(["webhook", "verify", "--now", String(T), line], BODY, { CAVE_WEBHOOK_SECRET: SECRET })).toEqual(
      ok,
    );
    const file = join(tmp, "secret");
    writeFileSync(file, `${SECRET}\n`);
    expect(await cave(["webhook", "verify", "--secret-file", file, "--now", String(T), line], BODY)).toEqual(ok);
  });

  test("an old timestamp is refused as a replay, even with a good signature: exit 1", async () => {
    expect(
      await cave(["webhook", "verify", "--secret", SECRET, "--now", String(T + 301), sign(SECRET, T, BODY)], BODY),
    ).toEqual({
      exitCode: 1,
      stdout: "",
      stderr:
        "cave: signature refused (timestamp_outside_tolerance): the timestamp is 301 s old, over the 300 s tolerance: a replay is refused\n",
    });
    // A tighter tolerance refuses sooner; a timestamp from the future is refused too.
    expect(
      (
        await cave(
          [
            "webhook",
            "verify",
            "--secret",
            SECRET,
            "--tolerance",
            "10",
            "--now",
            String(T + 11),
            sign(SECRET, T, BODY),
          ],
          BODY,
        )
      ).exitCode,
    ).toBe(1);
    expect(
      await cave(["webhook", "verify", "--secret", SECRET, "--now", String(T - 400), sign(SECRET, T, BODY)], BODY),
    ).toEqual({
      exitCode: 1,
      stdout: "",
      stderr:
        "cave: signature refused (timestamp_outside_tolerance): the timestamp is 400 s in the future, over the 300 s tolerance: a replay is refused\n",
    });
  });

  test("a tampered body, a wrong secret and a changed timestamp are refused as bad signatures", async () => {
    const bad = {
      exitCode: 1,
      stdout: "",
      stderr:
        "cave: signature refused (bad_signature): the signature does not match the body and secret (a changed body, a wrong secret, or a body altered in transit)\n",
    };
    const header = sign(SECRET, T, BODY);
    expect(
      await cave(["webhook", "verify", "--secret", SECRET, "--now", String(T), header], BODY.replace("ck_1", "ck_2")),
    ).toEqual(bad);
    expect(await cave(["webhook", "verify", "--secret", SECRET, "--now", String(T), header], `${BODY}\n`)).toEqual(bad);
    expect(await cave(["webhook", "verify", "--secret", `${SECRET}x`, "--now", String(T), header], BODY)).toEqual(bad);
    // Moving t forward to slip past the tolerance breaks the signature.
    expect(
      await cave(
        ["webhook", "verify", "--secret", SECRET, "--now", String(T + 1000), header.replace(`t=${T}`, `t=${T + 1000}`)],
        BODY,
      ),
    ).toEqual(bad);
  });

  test("a malformed header is refused with what is wrong; no secret is a usage error", async () => {
    const refused = (why: string) => ({
      exitCode: 1,
      stdout: "",
      stderr: `cave: signature refused (malformed_header): ${why}\n`,
    });
    const v1 = createHmac("sha256", SECRET).update(`${T}.${BODY}`).digest("hex");
    expect(await cave(["webhook", "verify", "--secret", SECRET, `v1=${v1}`], BODY)).toEqual(
      refused("the signature header has no t= timestamp"),
    );
    expect(await cave(["webhook", "verify", "--secret", SECRET, `t=${T}`], BODY)).toEqual(
      refused("the signature header has no v1= signature"),
    );
    expect(await cave(["webhook", "verify", "--secret", SECRET, `t=yesterday,v1=${v1}`], BODY)).toEqual(
      refused('the timestamp t="yesterday" is not a number of seconds'),
    );
    expect(await cave(["webhook", "verify", "--secret", SECRET, `t=${T},v1=abc`], BODY)).toEqual(
      refused("a v1= signature is not 64 hex digits (HMAC-SHA256)"),
    );
    expect(await cave(["webhook", "verify", sign(SECRET, T, BODY)], BODY)).toEqual({
      exitCode: 2,
      stdout: "",
      stderr:
        "cave: no secret given\n  hint: pass --secret S, --secret-file FILE or CAVE_WEBHOOK_SECRET (the secret of this URL in cave.yaml webhooks)\n",
    });
  });

  test("--json prints the verdict as one line", async () => {
    expect(
      await cave(["webhook", "verify", "--json", "--secret", SECRET, "--now", String(T), sign(SECRET, T, BODY)], BODY),
    ).toEqual({
      exitCode: 0,
      stdout: `${JSON.stringify({ valid: true, timestamp: T })}\n`,
      stderr: "",
    });
    const r = await cave(
      ["webhook", "verify", "--json", "--secret", SECRET, "--now", String(T + 900), sign(SECRET, T, BODY)],
      BODY,
    );
    expect(r.exitCode).toBe(1);
    expect(JSON.parse(r.stdout)).toEqual({
      valid: false,
      reason: "timestamp_outside_tolerance",
      message: "the timestamp is 900 s old, over the 300 s tolerance: a replay is refused",
      timestamp: T,
    });
  });

  test("a real delivery verifies as received, and the same delivery replayed ten minutes later does not", async () => {
    let captured: { header: string; body: string } | null = null;
    let done: () => void = () => {};
    const arrived = new Promise<void>((r) => {
      done = r;
    });
    const server = Bun.serve({
      port: 0,
      hostname: "127.0.0.1",
      async fetch(req) {
        captured = { header: req.headers.get("x-cave-signature") ?? "", body: await req.text() };
        done();
        return new Response("ok");
      },
    });
    const dataDir = mkdtempSync(join(tmp, "data-"));
    const w = await Webhooks.open({ dataDir, config: [{ url: `http://127.0.0.1:${server.port}/`, secret: SECRET }] });
    try {
      w.notify("key.issued", { key_id: "ck_live", role: "admin" });
      await arrived;
      await w.idle();
    } finally {
      await w.close();
      server.stop(true);
    }
    const { header, body } = captured as unknown as { header: string; body: string };
    const now = Math.floor(Date.now() / 1000);
    const ok = await cave(["webhook", "verify", "--secret", SECRET, header], body);
    expect(ok.exitCode).toBe(0);
    expect(ok.stderr).toBe("");
    const replay = await cave(["webhook", "verify", "--secret", SECRET, "--now", String(now + 600), header], body);
    expect(replay.exitCode).toBe(1);
    expect(replay.stderr).toStartWith("cave: signature refused (timestamp_outside_tolerance): ");
  });
});

describe("verifySignature", () => {
  test("accepts any of several v1 signatures (a secret being rotated) and ignores other schemes", () => {
    const good = sign(SECRET, T, BODY).split(",")[1] as string;
    const other = sign("another-secret-000000", T, BODY).split(",")[1] as string;
    expect(verifySignature(SECRET, `t=${T},v0=xyz,${other},${good}`, BODY, T, 300)).toEqual({ ok: true, timestamp: T });
    expect(verifySignature(SECRET, `t=${T},${other}`, BODY, T, 300)).toMatchObject({
      ok: false,
      reason: "bad_signature",
    });
  });

  test("checks the exact bytes of a binary body", () => {
    const bytes = new Uint8Array([0xff, 0x00, 0xfe, 0x41]);
    const v1 = createHmac("sha256", SECRET).update(`${T}.`).update(bytes).digest("hex");
    expect(verifySignature(SECRET, `t=${T},v1=${v1}`, bytes, T, 300)).toEqual({ ok: true, timestamp: T });
    expect(verifySignature(SECRET, `t=${T},v1=${v1}`, new TextDecoder().decode(bytes), T, 300)).toMatchObject({
      ok: false,
      reason: "bad_signature",
    });
  });
});
