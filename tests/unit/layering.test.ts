// Dependencies point inward (cli → server → {sandbox, db} → core, schema, ffi), and the
// `run` path never loads database or server code. Checked from the real import graph.
import { describe, expect, test } from "bun:test";
import { readdirSync, readFileSync, statSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";

const ROOT = resolve(import.meta.dir, "../..");
const transpiler = new Bun.Transpiler({ loader: "ts" });

/** Relative imports of one file (static and dynamic), resolved to repository paths. */
function importsOf(file: string): string[] {
  const code = readFileSync(file, "utf8");
  return transpiler
    .scanImports(code)
    .map((i) => i.path)
    .filter((p) => p.startsWith(".") && p.endsWith(".ts"))
    .map((p) => relative(ROOT, resolve(dirname(file), p)));
}

function walk(dir: string): string[] {
  return readdirSync(join(ROOT, dir)).flatMap((name) => {
    const rel = join(dir, name);
    return statSync(join(ROOT, rel)).isDirectory() ? walk(rel) : rel.endsWith(".ts") ? [rel] : [];
  });
}

/** Every file reachable from `entry` through static imports (what loads before any lazy import()). */
function staticClosure(entry: string): Set<string> {
  const seen = new Set<string>();
  const todo = [entry];
  while (todo.length) {
    const file = todo.pop() as string;
    if (seen.has(file)) continue;
    seen.add(file);
    const code = readFileSync(join(ROOT, file), "utf8");
    for (const i of transpiler.scanImports(code)) {
      if (i.kind !== "import-statement" || !i.path.startsWith(".") || !i.path.endsWith(".ts")) continue;
      todo.push(relative(ROOT, resolve(dirname(join(ROOT, file)), i.path)));
    }
  }
  return seen;
}

const layer = (path: string) => path.split("/").slice(0, path.startsWith("src/") ? 2 : 1).join("/");

describe("layering", () => {
  const forbidden: Record<string, string[]> = {
    "src/sandbox": ["src/db", "src/server", "src/cli"],
    "src/server": ["src/cli"],
    "src/db": ["src/sandbox", "src/server", "src/cli"],
    "src/core": ["src/sandbox", "src/db", "src/server", "src/cli"],
    ffi: ["src/sandbox", "src/db", "src/server", "src/cli"],
    schema: ["src/sandbox", "src/db", "src/server", "src/cli"],
  };
  for (const [from, banned] of Object.entries(forbidden)) {
    test(`${from} imports nothing from ${banned.join(", ")}`, () => {
      const offending = walk(from).flatMap((f) => importsOf(join(ROOT, f)).filter((i) => banned.includes(layer(i))).map((i) => `${f} → ${i}`));
      expect(offending).toEqual([]);
    });
  }

  test("cave run loads no database or server code, not even lazily reachable through static imports", () => {
    const closure = [...staticClosure("src/cli/commands/run.ts")];
    expect(closure.filter((f) => f.startsWith("src/db/") || f.startsWith("src/server/"))).toEqual([]);
    // the sandbox itself is there: the check looks at the real graph
    expect(closure).toContain("src/sandbox/run.ts");
  });
});
