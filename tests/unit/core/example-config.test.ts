// cave.yaml in the repository is the commented example of every setting: the part that is live
// and the sections that are commented out must both be valid, so the example never teaches a
// key or a value that cave refuses.
import { afterAll, expect, test } from "bun:test";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { loadConfigFile } from "../../../src/core/config.ts";

const EXAMPLE = resolve(import.meta.dir, "../../../cave.yaml");
const dir = mkdtempSync(join(tmpdir(), "cave-example-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

test("cave.yaml as shipped is valid", () => {
  expect(() => loadConfigFile(EXAMPLE)).not.toThrow();
});

test("its commented-out top-level sections are valid once uncommented", () => {
  const text = readFileSync(EXAMPLE, "utf8");
  // From the first commented top-level section (`# db:`) on, drop one leading "# " per line.
  const start = text.indexOf("\n# db:");
  expect(start).toBeGreaterThan(0);
  const uncommented = text
    .slice(start + 1)
    .split("\n")
    .map((l) => l.replace(/^# ?/, ""))
    .join("\n");
  const path = join(dir, "uncommented.yaml");
  writeFileSync(path, uncommented);
  const config = loadConfigFile(path);
  expect(Object.keys(config).sort()).toEqual(["auth", "db", "keys", "limits", "telemetry", "webhooks"]);
  expect(config.db?.statement_timeout).toBe("8s");
});
