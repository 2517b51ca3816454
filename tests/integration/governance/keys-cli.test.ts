// `cave keys …` through the real CLI entry (bun src/cli/main.ts) on a temp --data-dir: the secret
// printed once on stdout, list/revoke/rotate, cave.yaml's keys.rotation_grace, exit codes and
// stderr for mistakes, and the keys read back by the KeyStore a server would open.
import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { Engine } from "../../../src/db/engine.ts";
import { openStore } from "../../../src/db/store/index.ts";
import { KeyStore } from "../../../src/governance/keys.ts";

const ROOT = resolve(import.meta.dir, "../../..");
const BUN = join(ROOT, "node_modules/.bin/bun");
let dir: string;

async function keys(args: string[], opts: { cwd?: string } = {}) {
  const proc = Bun.spawn([BUN, join(ROOT, "src/cli/main.ts"), "keys", ...args, "--data-dir", join(dir, "data")], {
    cwd: opts.cwd ?? dir,
    stdout: "pipe",
    stderr: "pipe",
    env: { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: dir },
  });
  const [stdout, stderr, exitCode] = await Promise.all([
    new Response(proc.stdout).text(),
    new Response(proc.stderr).text(),
    proc.exited,
  ]);
  return { exitCode, stdout, stderr };
}

async function withStore<T>(f: (k: KeyStore) => Promise<T>): Promise<T> {
  const db = await Engine.open(openStore(join(dir, "data", "cave.db")));
  try {
    return await f(await KeyStore.open(db, { env: {} }));
  } finally {
    db.close();
  }
}

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "cave-keys-cli-"));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

describe("cave keys", () => {
  test("issue prints the secret alone on stdout, once; list shows the key without it; the server's KeyStore accepts it", async () => {
    const r = await keys([
      "issue",
      "--role",
      "session",
      "--name",
      "ci",
      "--sandbox",
      "0123456789ab",
      "--sandbox",
      "ba9876543210",
      "--expires",
      "30d",
    ]);
    expect(r.exitCode).toBe(0);
    expect(r.stdout).toMatch(/^cave_[0-9a-f]{12}_[A-Za-z0-9_-]{43}\n$/);
    const secret = r.stdout.trim();
    const id = secret.slice(5, 17);
    expect(r.stderr).toMatch(
      new RegExp(
        `^cave: issued session key ${id} \\(sandboxes 0123456789ab,ba9876543210, expires \\S+\\); the secret above is shown once: only its hash is kept\\n$`,
      ),
    );

    const list = await keys(["list"]);
    expect([list.exitCode, list.stderr]).toEqual([0, ""]);
    const lines = list.stdout.trim().split("\n");
    expect(lines[0]).toBe("ID\tNAME\tROLE\tSCOPE\tSTATUS\tCREATED\tEXPIRES\tLAST USED");
    expect(lines[1]?.split("\t").slice(0, 5)).toEqual([
      id,
      "ci",
      "session",
      "sandboxes 0123456789ab,ba9876543210",
      "active",
    ]);
    expect(list.stdout).not.toContain(secret);

    expect(await withStore((k) => k.authenticate(`Bearer ${secret}`))).toEqual({
      keyId: id,
      role: "session",
      name: "ci",
      scope: { namespace: null, sandboxes: ["0123456789ab", "ba9876543210"] },
    });
  });

  test("rotate --json gives the successor's secret and the old key's end; revoke refuses a key; both survive into a new process", async () => {
    const issued = JSON.parse(
      (await keys(["issue", "--role", "namespace", "--namespace", "team-a", "--json"])).stdout,
    ) as { id: string; key: string };
    const rot = await keys(["rotate", issued.id, "--grace", "2h", "--json"]);
    expect(rot.exitCode).toBe(0);
    const r = JSON.parse(rot.stdout) as {
      id: string;
      key: string;
      namespace: string;
      rotatedFrom: string;
      previous: { id: string; status: string; rotatedTo: string; expiresAt: string };
    };
    expect([r.namespace, r.rotatedFrom, r.previous.id, r.previous.status, r.previous.rotatedTo]).toEqual([
      "team-a",
      issued.id,
      issued.id,
      "rotating",
      r.id,
    ]);
    const graceMs = Date.parse(r.previous.expiresAt) - Date.now();
    expect(graceMs).toBeGreaterThan(2 * 3_600_000 - 60_000);
    expect(graceMs).toBeLessThanOrEqual(2 * 3_600_000);

    const rev = await keys(["revoke", r.id]);
    expect([rev.exitCode, rev.stderr]).toEqual([0, ""]);
    expect(rev.stdout).toMatch(new RegExp(`^revoked ${r.id} at \\S+Z\\n$`));
    const codes = await withStore(async (k) =>
      Promise.all(
        [issued.key, r.key].map((key) =>
          k.authenticate(`Bearer ${key}`).then(
            (p) => p.keyId,
            (e) => e.code,
          ),
        ),
      ),
    );
    expect(codes).toEqual([issued.id, "AUTH_KEY_REVOKED"]);
  });

  test("cave.yaml keys.rotation_grace sets the default grace", async () => {
    writeFileSync(join(dir, "cave.yaml"), "keys:\n  rotation_grace: 0\n");
    const issued = JSON.parse((await keys(["issue", "--role", "admin", "--json"])).stdout) as { id: string };
    const r = JSON.parse((await keys(["rotate", issued.id, "--json"])).stdout) as { previous: { status: string } };
    expect(r.previous.status).toBe("expired");
  });

  test("mistakes exit 2 with the message and a hint on stderr, and print nothing on stdout", async () => {
    const cases: [string[], string][] = [
      [
        ["issue", "--role", "namespace"],
        "cave: a namespace key needs its namespace\n  hint: give --namespace NS (namespace in the body)\n",
      ],
      [
        ["issue", "--role", "session", "--sandbox", "mybox"],
        'cave: invalid sandbox id "mybox"\n  hint: give sandbox ids (12 hex digits, cave ls shows them), not names: a name can be reused by another sandbox\n',
      ],
      [["revoke", "0123456789ab"], 'cave: no API key "0123456789ab"\n  hint: list them with cave keys list\n'],
      [
        ["rotate", "0123456789ab", "--grace", "soon"],
        'cave: --grace: invalid duration "soon": use e.g. 30d, 24h, 90m, 1d12h (s, m, h, d, w) or a number of seconds\n',
      ],
    ];
    const got = [];
    for (const [args] of cases) {
      const r = await keys(args);
      got.push([r.exitCode, r.stdout, r.stderr]);
    }
    expect(got).toEqual(cases.map(([, stderr]) => [2, "", stderr]));
  });
});
