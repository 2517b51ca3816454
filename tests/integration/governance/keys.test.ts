// API keys on a real libSQL file: issue, list, revoke, rotate, authenticate; the state survives
// a restart (a new engine on the same file); expired, revoked and rotated-past-grace keys are
// refused with their own codes; the admin key made by earlier versions keeps working after the
// table's migration. Time moves by giving the store a later clock, never by sleeping.
import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { CaveError } from "../../../src/core/errors.ts";
import { Engine } from "../../../src/db/engine.ts";
import { openStore } from "../../../src/db/store/index.ts";
import { type KeyEvent, KeyStore, type Principal } from "../../../src/governance/keys.ts";

let dir: string;
let dbPath: string;
const open: Engine[] = [];

async function engine(): Promise<Engine> {
  const db = await Engine.open(openStore(dbPath));
  open.push(db);
  return db;
}

/** A KeyStore on the temp database whose clock reads `clock.now`. */
async function keyStore(
  clock = { now: Date.now() },
  opts: { env?: Record<string, string>; rotationGraceMs?: number } = {},
) {
  return KeyStore.open(await engine(), {
    env: opts.env ?? {},
    now: () => clock.now,
    ...(opts.rotationGraceMs !== undefined ? { rotationGraceMs: opts.rotationGraceMs } : {}),
  });
}

async function refusal(p: Promise<unknown>): Promise<{ code: string; message: string }> {
  try {
    await p;
  } catch (e) {
    if (e instanceof CaveError) return { code: e.code, message: e.message };
    throw e;
  }
  throw new Error("expected a refusal, got success");
}

const bearer = (key: string) => `Bearer ${key}`;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "cave-keys-test-"));
  dbPath = join(dir, "cave.db");
});
afterEach(() => {
  for (const db of open.splice(0)) {
    try {
      db.close();
    } catch {
      // closed by the test already
    }
  }
  rmSync(dir, { recursive: true, force: true });
});

describe("KeyStore", () => {
  test("an issued key is cave_<id>_<43 base64url chars>, authenticates as its role and scope, and only its hash is stored", async () => {
    const keys = await keyStore();
    const issued = await keys.issue({
      role: "session",
      name: "ci",
      sandboxes: ["0123456789ab", "0123456789ab", "ba9876543210"],
    });
    expect(issued.key).toMatch(new RegExp(`^cave_${issued.id}_[A-Za-z0-9_-]{43}$`));
    expect(issued.id).toMatch(/^[0-9a-f]{12}$/);
    const { key, createdAt, ...info } = issued;
    expect(info).toEqual({
      id: issued.id,
      name: "ci",
      role: "session",
      namespace: null,
      sandboxes: ["0123456789ab", "ba9876543210"],
      status: "active",
      expiresAt: null,
      lastUsedAt: null,
      revokedAt: null,
      rotatedFrom: null,
      rotatedTo: null,
    });
    const principal = await keys.authenticate(bearer(key));
    expect(principal).toEqual({
      keyId: issued.id,
      role: "session",
      name: "ci",
      scope: { namespace: null, sandboxes: ["0123456789ab", "ba9876543210"] },
    } satisfies Principal);
    // The listing never carries a secret, and neither does the database file.
    expect(JSON.stringify(await keys.list())).not.toContain(key);
    await open[0]?.store.checkpoint();
    const bytes = readFileSync(dbPath).toString("latin1");
    expect(bytes).not.toContain(key);
    expect(bytes).not.toContain(key.slice(18));
  });

  test("a restart changes nothing: keys, their state and last use are read back from the file", async () => {
    const clock = { now: Date.parse("2030-01-01T00:00:00Z") };
    const first = await keyStore(clock);
    const a = await first.issue({ role: "namespace", namespace: "team-a", expires: "30d" });
    clock.now += 1000; // listed in the order of creation
    const b = await first.issue({ role: "model-access" });
    await first.revoke(b.id);
    await first.authenticate(bearer(a.key));
    const before = await first.list();
    open[0]?.close();

    const second = await keyStore(clock);
    expect(await second.list()).toEqual(before);
    expect(before.map((k) => [k.id, k.status, k.lastUsedAt, k.expiresAt])).toEqual([
      [a.id, "active", "2030-01-01T00:00:01.000Z", "2030-01-31T00:00:00.000Z"],
      [b.id, "revoked", null, null],
    ]);
    expect((await second.authenticate(bearer(a.key))).scope).toEqual({ namespace: "team-a", sandboxes: [] });
    expect((await refusal(second.authenticate(bearer(b.key)))).code).toBe("AUTH_KEY_REVOKED");
  });

  test("an expired key is refused with AUTH_KEY_EXPIRED, a revoked one with AUTH_KEY_REVOKED, an unknown one with AUTH_KEY_INVALID", async () => {
    const clock = { now: Date.parse("2030-01-01T00:00:00Z") };
    const keys = await keyStore(clock);
    const short = await keys.issue({ role: "admin", expires: "1h" });
    const revoked = await keys.issue({ role: "admin" });
    expect((await keys.authenticate(bearer(short.key))).role).toBe("admin");
    await keys.revoke(revoked.id);
    expect(await refusal(keys.authenticate(bearer(revoked.key)))).toEqual({
      code: "AUTH_KEY_REVOKED",
      message: `API key ${revoked.id} was revoked at 2030-01-01T00:00:00.000Z`,
    });

    clock.now += 3_600_000;
    expect(await refusal(keys.authenticate(bearer(short.key)))).toEqual({
      code: "AUTH_KEY_EXPIRED",
      message: `API key ${short.id} expired at 2030-01-01T01:00:00.000Z`,
    });
    expect((await keys.get(short.id)).status).toBe("expired");

    // The right id with a wrong secret, a made-up key, and no key at all.
    const forged = `cave_${short.id}_${"A".repeat(43)}`;
    expect((await refusal(keys.authenticate(bearer(forged)))).code).toBe("AUTH_KEY_INVALID");
    expect((await refusal(keys.authenticate(bearer("cave_nothing_here")))).code).toBe("AUTH_KEY_INVALID");
    expect((await refusal(keys.authenticate(null))).code).toBe("AUTH_REQUIRED");
    expect((await refusal(keys.authenticate(`Basic ${short.key}`))).code).toBe("AUTH_REQUIRED");
  });

  test("rotation: the successor has the same role, scope and name; the old key works until the grace ends, then AUTH_KEY_EXPIRED", async () => {
    const clock = { now: Date.parse("2030-01-01T00:00:00Z") };
    const keys = await keyStore(clock, { rotationGraceMs: 2 * 3_600_000 });
    const old = await keys.issue({ role: "namespace", namespace: "team-a", name: "deploy" });
    const r = await keys.rotate(old.id);
    expect([r.role, r.namespace, r.name, r.rotatedFrom, r.status]).toEqual([
      "namespace",
      "team-a",
      "deploy",
      old.id,
      "active",
    ]);
    expect([r.previous.status, r.previous.rotatedTo, r.previous.expiresAt]).toEqual([
      "rotating",
      r.id,
      "2030-01-01T02:00:00.000Z",
    ]);

    clock.now += 2 * 3_600_000 - 1;
    expect((await keys.authenticate(bearer(old.key))).keyId).toBe(old.id);
    clock.now += 1;
    expect(await refusal(keys.authenticate(bearer(old.key)))).toEqual({
      code: "AUTH_KEY_EXPIRED",
      message: `API key ${old.id} was rotated (to ${r.id}) and its grace period ended at 2030-01-01T02:00:00.000Z`,
    });
    expect(await keys.authenticate(bearer(r.key))).toEqual({
      keyId: r.id,
      role: "namespace",
      name: "deploy",
      scope: { namespace: "team-a", sandboxes: [] },
    });
    // An expired (here: rotated) key cannot be rotated again; its successor can.
    expect((await refusal(keys.rotate(old.id))).code).toBe("KEY_STATE");
    expect((await keys.rotate(r.id, { graceMs: 0 })).rotatedFrom).toBe(r.id);
    expect((await refusal(keys.authenticate(bearer(r.key)))).code).toBe("AUTH_KEY_EXPIRED");
  });

  test("rotation keeps an expiring key's lifetime and never extends the old key past its own expiry", async () => {
    const clock = { now: Date.parse("2030-01-01T00:00:00Z") };
    const keys = await keyStore(clock);
    const old = await keys.issue({ role: "model-access", expires: "1h" });
    clock.now += 30 * 60_000;
    const r = await keys.rotate(old.id);
    expect(r.expiresAt).toBe("2030-01-01T01:30:00.000Z");
    expect(r.previous.expiresAt).toBe("2030-01-01T01:00:00.000Z");
    expect((await refusal(keys.rotate(old.id))).message).toBe(
      `API key ${old.id} was rotated already (to ${r.id}): only an active key can be rotated`,
    );
  });

  test("each role takes exactly the scope it uses", async () => {
    const keys = await keyStore();
    const cases: [Parameters<KeyStore["issue"]>[0], string][] = [
      [{ role: "namespace" }, "a namespace key needs its namespace"],
      [{ role: "session" }, "a session key needs the sandboxes it may use"],
      [{ role: "session", sandboxes: ["mybox"] }, 'invalid sandbox id "mybox"'],
      [{ role: "admin", namespace: "x" }, "an admin key has no scope: it may do everything"],
      [
        { role: "namespace", namespace: "a", sandboxes: ["0123456789ab"] },
        "a namespace key covers its namespace's sandboxes; it takes no sandbox list",
      ],
      [{ role: "model-access", sandboxes: ["0123456789ab"] }, "a model-access key takes no sandbox list"],
      [{ role: "owner" as "admin" }, 'unknown role "owner"'],
      [
        { role: "admin", expires: "30x" },
        'expires: invalid duration "30x": use e.g. 30d, 24h, 90m, 1d12h (s, m, h, d, w) or a number of seconds',
      ],
      [{ role: "admin", name: "bad name" }, 'invalid key name "bad name"'],
    ];
    const got = [];
    for (const [body] of cases) got.push(await refusal(keys.issue(body)));
    expect(got).toEqual(cases.map(([, message]) => ({ code: "BAD_REQUEST", message })));
    expect(await keys.list()).toEqual([]);
    expect((await refusal(keys.revoke("0123456789ab"))).code).toBe("KEY_NOT_FOUND");
  });

  test("CAVE_ADMIN_KEY is an admin key that is never stored; a short one is refused at open", async () => {
    const env = { CAVE_ADMIN_KEY: "an-operator-chosen-admin-key" };
    const keys = await keyStore(undefined, { env });
    expect(await keys.authenticate(bearer(env.CAVE_ADMIN_KEY))).toEqual({
      keyId: "env",
      role: "admin",
      name: "CAVE_ADMIN_KEY",
      scope: { namespace: null, sandboxes: [] },
    });
    expect(await keys.ensureAdmin()).toBeUndefined();
    expect(await keys.list()).toEqual([]);
    expect((await refusal(keyStore(undefined, { env: { CAVE_ADMIN_KEY: "short" } }))).code).toBe("AUTH_KEY_WEAK");
  });

  test("the admin key made by an earlier version keeps working after the migration, and the migrated table reads through SQL", async () => {
    // The table and key exactly as src/server/auth.ts made them before keys had roles and scopes.
    const old = await engine();
    await old.query(`CREATE TABLE IF NOT EXISTS cave_api_keys (
      id text PRIMARY KEY,
      hash text NOT NULL,
      role text NOT NULL DEFAULT 'admin',
      created_at timestamptz NOT NULL DEFAULT now())`);
    const legacyKey = `cave_${"ab".repeat(32)}`;
    const legacyHash = new Bun.CryptoHasher("sha256").update(legacyKey).digest("hex");
    await old.query("INSERT INTO cave_api_keys (id, hash) VALUES ($1, $2)", ["0a1b2c3d4e5f", legacyHash]);
    old.close();

    const keys = await keyStore();
    expect(await keys.authenticate(bearer(legacyKey))).toEqual({
      keyId: "0a1b2c3d4e5f",
      role: "admin",
      name: null,
      scope: { namespace: null, sandboxes: [] },
    });
    expect(await keys.ensureAdmin()).toBeUndefined();
    const fresh = await keys.issue({ role: "session", sandboxes: ["0123456789ab"] });
    // Opening again (another process, a restart) migrates nothing twice and marks no new key legacy.
    const again = await keyStore();
    expect((await again.authenticate(bearer(fresh.key))).keyId).toBe(fresh.id);
    expect((await again.authenticate(bearer(legacyKey))).keyId).toBe("0a1b2c3d4e5f");
    const rows = await open[open.length - 1]!.query(
      "SELECT id, role, legacy, sandboxes FROM cave_api_keys ORDER BY legacy DESC",
    );
    expect(rows.rows).toEqual([
      ["0a1b2c3d4e5f", "admin", true, null],
      [fresh.id, "session", false, ["0123456789ab"]],
    ]);
    // Revoking the old key works like any other.
    await again.revoke("0a1b2c3d4e5f");
    expect((await refusal(again.authenticate(bearer(legacyKey)))).code).toBe("AUTH_KEY_REVOKED");
  });
});

describe("key events", () => {
  test("issue, rotate and revoke are told to onEvent after they are stored, without secrets; a revoke that changes nothing is not", async () => {
    const events: KeyEvent[] = [];
    const keys = await KeyStore.open(await engine(), { env: {}, onEvent: (e) => events.push(e) });
    const a = await keys.issue({ role: "namespace", namespace: "team-a" });
    const b = await keys.rotate(a.id, { graceMs: 0 });
    await keys.revoke(b.id);
    await keys.revoke(b.id);
    expect(
      events.map((e) => [e.type, e.key.id, e.type === "key.rotated" ? e.previous.id : null, e.key.status]),
    ).toEqual([
      ["key.issued", a.id, null, "active"],
      ["key.rotated", b.id, a.id, "active"],
      ["key.revoked", b.id, null, "revoked"],
    ]);
    expect(JSON.stringify(events)).not.toContain(a.key);
    expect(JSON.stringify(events)).not.toContain(b.key);
    // A failing listener neither undoes the operation nor reaches the caller.
    const loud = await KeyStore.open(await engine(), {
      env: {},
      onEvent: () => {
        throw new Error("receiver down");
      },
    });
    const c = await loud.issue({ role: "admin" });
    expect((await loud.authenticate(bearer(c.key))).keyId).toBe(c.id);
  });
});

describe("cave serve's start on the KeyStore (src/server/serve.ts)", () => {
  test("the first start makes one admin key shown once; later starts accept it and make none; a revoked admin key is refused at once", async () => {
    const first = await KeyStore.open(await engine(), {});
    const key = (await first.ensureAdmin()) as string;
    expect(key).toMatch(/^cave_[0-9a-f]{12}_[A-Za-z0-9_-]{43}$/);
    expect((await first.authenticate(bearer(key))).role).toBe("admin");

    const second = await KeyStore.open(await engine(), {});
    expect(await second.ensureAdmin()).toBeUndefined();
    expect((await second.authenticate(bearer(key))).role).toBe("admin");
    expect((await refusal(second.authenticate(bearer(`${key}x`)))).code).toBe("AUTH_KEY_INVALID");

    const id = (await second.list())[0]?.id as string;
    await second.revoke(id);
    expect((await refusal(second.authenticate(bearer(key)))).code).toBe("AUTH_KEY_REVOKED");
    const third = await KeyStore.open(await engine(), {});
    expect(await third.ensureAdmin()).toBeUndefined();
  });
});
