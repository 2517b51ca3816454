// The lifecycle's own statements go to the store, not through the engine: a cave process that
// only lists, inspects, creates or removes sandboxes never loads the WASM SQL parser (~70 ms to
// compile). Each step runs in a process of its own, as each CLI verb does, since the parser
// stays loaded for the rest of a process once it is. Rows written the old way (Postgres SQL
// through the engine) and the new way read back the same, through either path.
import { afterAll, beforeAll, expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Engine } from "../../src/db/engine.ts";
import { openStore } from "../../src/db/store/index.ts";

const SRC = join(import.meta.dir, "../../src");
const mkfs = Bun.which("mkfs.ext4", { PATH: "/usr/sbin:/sbin:/usr/bin:/bin" }) !== null;

let dir: string;
let data: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "cave-lifecycle-"));
  data = join(dir, "data");
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Runs `body` in a fresh bun process with `boxes` open on the data directory; its stdout is JSON. */
async function inProcess(body: string): Promise<{ parserLoaded: boolean; out: unknown }> {
  const script = join(dir, `step-${Math.random().toString(16).slice(2)}.ts`);
  writeFileSync(
    script,
    `import { Sandboxes } from ${JSON.stringify(join(SRC, "server/sandboxes.ts"))};
import { loadedParser } from ${JSON.stringify(join(SRC, "db/parse/wasm.ts"))};
const boxes = await Sandboxes.open({ dataDir: ${JSON.stringify(data)} });
const out = await (async () => { ${body} })();
boxes.close();
process.stdout.write(JSON.stringify({ parserLoaded: loadedParser() !== null, out: out ?? null }));
`,
  );
  const p = Bun.spawn([process.execPath, script], { stdout: "pipe", stderr: "pipe" });
  const [stdout, stderr, code] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text(), p.exited]);
  if (code !== 0) throw new Error(`step failed (${code}): ${stderr}`);
  return JSON.parse(stdout);
}

test("the first open creates the tables through the engine (the parser loads once per data directory)", async () => {
  const first = await inProcess(`
    await boxes.db.query("INSERT INTO cave_sandboxes (id, name, status, config) VALUES ($1, $2, 'created', $3)", ["0123456789ab", "old", JSON.stringify({ diskBytes: 1, memoryBytes: null })]);
    await boxes.db.query("INSERT INTO cave_executions (sandbox_id, argv, started_at) VALUES ($1, $2, $3)", ["0123456789ab", JSON.stringify(["/bin/true"]), new Date().toISOString()]);
  `);
  expect(first.parserLoaded).toBe(true);
});

test("listing, inspecting and reading executions afterwards never load the parser", async () => {
  const r = await inProcess(`
    const list = await boxes.list();
    const one = await boxes.get("old");
    const execs = await boxes.executions("0123456789ab");
    return { list, one, execs };
  `);
  expect(r.parserLoaded).toBe(false);
  const { list, one, execs } = r.out as { list: Record<string, unknown>[]; one: Record<string, unknown>; execs: Record<string, unknown>[] };
  expect(list.length).toBe(1);
  expect(one).toEqual(list[0]!);
  expect(one).toMatchObject({ id: "0123456789ab", name: "old", status: "created", initPid: null, startedAt: null, stoppedAt: null });
  // Infinity travels as null in JSON both ways.
  expect(one.config).toEqual({ diskBytes: 1, memoryBytes: null });
  expect(one.createdAt).toMatch(/^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}(\.\d+)?\+00$/);
  expect(execs).toEqual([
    {
      id: 1,
      sandboxId: "0123456789ab",
      argv: ["/bin/true"],
      exitCode: null,
      signal: null,
      reason: null,
      durationMs: null,
      startedAt: expect.stringMatching(/\+00$/),
      finishedAt: null,
    },
  ]);
});

test.skipIf(!mkfs)("create and rm never load the parser, and what they write reads back typed through the engine", async () => {
  const created = await inProcess(`return await boxes.create({ diskBytes: 16 * 1024 * 1024, env: {}, cpus: Infinity }, "fresh");`);
  expect(created.parserLoaded).toBe(false);
  const box = created.out as { id: string; createdAt: string; config: Record<string, unknown> };
  expect(box.config).toEqual({ diskBytes: 16 * 1024 * 1024, env: {}, cpus: null });

  const dup = await inProcess(`try { await boxes.create({ diskBytes: 16 * 1024 * 1024 }, "fresh"); return null; } catch (e) { return e.code; }`);
  expect(dup).toEqual({ parserLoaded: false, out: "SANDBOX_EXISTS" });

  const db = await Engine.open(openStore(join(data, "cave.db")));
  try {
    const r = await db.query("SELECT name, status, config, created_at, init_pid FROM cave_sandboxes WHERE id = $1", [box.id]);
    expect(r.columns.map((c) => c.type)).toEqual(["text", "text", "jsonb", "timestamptz", "int4"]);
    expect(r.rows).toEqual([["fresh", "created", { diskBytes: 16 * 1024 * 1024, env: {}, cpus: null }, box.createdAt, null]]);
  } finally {
    db.close();
  }

  const removed = await inProcess(`await boxes.rm(${JSON.stringify(box.id)}); return (await boxes.list()).map((s) => s.id);`);
  expect(removed).toEqual({ parserLoaded: false, out: ["0123456789ab"] });
});
