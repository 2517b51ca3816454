// The compiled binary on its own: copied into an empty directory with no node_modules,
// no sources and no helper .so beside it, it must still run sandboxes.
import { afterAll, beforeAll, expect, test } from "bun:test";
import { copyFileSync, mkdtempSync, rmSync, readdirSync, chmodSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { CAVE, cave } from "../helpers/cave.ts";

let dir: string;
let bin: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "cave-e2e-"));
  bin = join(dir, "cave");
  copyFileSync(CAVE, bin);
  chmodSync(bin, 0o755);
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

test("the copied binary is alone in its directory", () => {
  expect(readdirSync(dir)).toEqual(["cave"]);
});

test("the copied binary runs a sandboxed command from an empty directory", async () => {
  const r = await cave(["run", "--", "sh", "-c", "echo hello from $(hostname)"], { binary: bin, cwd: dir });
  expect(r).toEqual({ exitCode: 0, stdout: "hello from cave\n", stderr: "" });
});

test("the copied binary reports its version and help", async () => {
  const v = await cave(["version", "--json"], { binary: bin, cwd: dir });
  expect(v.exitCode).toBe(0);
  expect(JSON.parse(v.stdout)).toMatchObject({ version: expect.stringMatching(/^\d+\.\d+\.\d+/) });
  const h = await cave(["run", "--help"], { binary: bin, cwd: dir });
  expect(h.exitCode).toBe(0);
  expect(h.stdout).toContain("--timeout");
});

test("a command's own --help after -- goes to the command, not to cave", async () => {
  const r = await cave(["run", "--", "sh", "-c", "echo $1", "sh", "--help"], { binary: bin, cwd: dir });
  expect(r).toEqual({ exitCode: 0, stdout: "--help\n", stderr: "" });
});

test("an unknown verb is a usage error with exit 2", async () => {
  const r = await cave(["frobnicate"], { binary: bin, cwd: dir });
  expect(r.exitCode).toBe(2);
  expect(r.stderr).toContain("frobnicate");
});
