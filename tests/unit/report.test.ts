// The CLI's exit code per error class: scripts and CI steps branch on these.
import { describe, expect, test } from "bun:test";
import { CLI_EXIT, exitCodeFor } from "../../src/cli/report.ts";

describe("exitCodeFor", () => {
  test.each([
    ["USAGE", CLI_EXIT.USAGE],
    ["CONFIG_INVALID", CLI_EXIT.USAGE],
    ["BAD_REQUEST", CLI_EXIT.USAGE],
    ["AUTH_REQUIRED", CLI_EXIT.USAGE],
    ["REMOTE_UNREACHABLE", CLI_EXIT.REMOTE],
    ["SANDBOX_SETUP", CLI_EXIT.SETUP],
    ["DB_ERROR", CLI_EXIT.DB],
    ["AUDIT_IO", 1],
    ["AUDIT_KEY", 1],
    ["AUDIT_CORRUPT", 1],
    ["SOMETHING_NEW", CLI_EXIT.INTERNAL],
  ])("%s → %d", (code, exit) => {
    expect(exitCodeFor(code)).toBe(exit);
  });
});
