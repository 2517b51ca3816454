// Option splitting for `cave run`: options end at `--` or at the command.
import { expect, test } from "bun:test";
import { splitCommandArgs } from "../../../src/cli/args.ts";
import { wantsHelp } from "../../../src/cli/help.ts";

const defs = {
  timeout: { type: "string" },
  env: { type: "string" },
  json: { type: "boolean" },
} as const;

test("options stop at -- and everything after it belongs to the command", () => {
  expect(splitCommandArgs(["--json", "--", "ls", "--json"], defs)).toEqual({ options: { json: true }, command: ["ls", "--json"] });
});

test("options stop at the first word that is not an option", () => {
  expect(splitCommandArgs(["--timeout", "5s", "echo", "--timeout"], defs)).toEqual({ options: { timeout: "5s" }, command: ["echo", "--timeout"] });
});

test("--name=value works and repeatable options collect into a list", () => {
  expect(splitCommandArgs(["--env=A=1", "--env", "B=2", "--", "env"], defs, ["env"])).toEqual({ options: { env: ["A=1", "B=2"] }, command: ["env"] });
});

test("an unknown option is a usage error that says where the command goes", () => {
  expect(() => splitCommandArgs(["--bogus", "x"], defs)).toThrow("unknown option --bogus");
});

test("a value option at the end without its value is an error", () => {
  expect(() => splitCommandArgs(["--timeout"], defs)).toThrow("option --timeout needs a value");
});

test("a boolean option given a value is an error", () => {
  expect(() => splitCommandArgs(["--json=yes", "--", "true"], defs)).toThrow("option --json takes no value");
});

test("--help counts only before the command", () => {
  expect(wantsHelp(["run", "--help"])).toBe(true);
  expect(wantsHelp(["run", "--", "grep", "--help"])).toBe(false);
});
