// The capability table and the parser `run.cap_add` and `--cap-add` share.
import { describe, expect, test } from "bun:test";
import { existsSync, readFileSync } from "node:fs";
import {
  CAPABILITIES,
  CAP_LAST_CAP,
  capabilityMask,
  parseCapabilities,
  parseCapability,
} from "../../../src/core/capabilities.ts";
import { isCaveError } from "../../../src/core/errors.ts";

function thrown(fn: () => unknown): { code: string; message: string } {
  try {
    fn();
  } catch (e) {
    if (isCaveError(e)) return { code: e.code, message: e.message };
    throw e;
  }
  throw new Error("expected a CaveError, but nothing was thrown");
}

const HEADER = "/usr/include/linux/capability.h";

describe("CAPABILITIES", () => {
  test("numbers every capability from CAP_CHOWN (0) to CAP_CHECKPOINT_RESTORE (40)", () => {
    expect([CAPABILITIES.length, CAP_LAST_CAP, CAPABILITIES[0], CAPABILITIES[21], CAPABILITIES[40]]).toEqual([
      41,
      40,
      "CAP_CHOWN",
      "CAP_SYS_ADMIN",
      "CAP_CHECKPOINT_RESTORE",
    ]);
  });

  test.skipIf(!existsSync(HEADER))(`matches the numbers in ${HEADER} (skipped: kernel headers not installed)`, () => {
    const defined = [...readFileSync(HEADER, "utf8").matchAll(/^#define (CAP_[A-Z_]+)\s+(\d+)\s*$/gm)].map(
      ([, name, n]) => [Number(n), name],
    );
    expect(defined).toEqual(CAPABILITIES.map((name, n) => [n, name]));
  });
});

describe("parseCapability", () => {
  test.each([
    ["NET_BIND_SERVICE", "CAP_NET_BIND_SERVICE"],
    ["net_bind_service", "CAP_NET_BIND_SERVICE"],
    ["CAP_SYS_PTRACE", "CAP_SYS_PTRACE"],
    ["cap_sys_ptrace", "CAP_SYS_PTRACE"],
    ["Cap_Chown", "CAP_CHOWN"],
    ["checkpoint_restore", "CAP_CHECKPOINT_RESTORE"],
  ] as const)("reads %p as %p", (input, canonical) => {
    expect(parseCapability(input)).toBe(canonical);
  });

  test.each([
    ["net_bind", 'unknown capability "net_bind": did you mean CAP_NET_BIND_SERVICE?'],
    ["SYS_ADMN", 'unknown capability "SYS_ADMN": did you mean CAP_SYS_ADMIN?'],
    ["CAP_SETUIDS", 'unknown capability "CAP_SETUIDS": did you mean CAP_SETUID?'],
    ["ALL", 'unknown capability "ALL": use a name from capabilities(7) such as NET_BIND_SERVICE, with or without CAP_'],
    ["", 'unknown capability "": use a name from capabilities(7) such as NET_BIND_SERVICE, with or without CAP_'],
    [
      "CAP_41",
      'unknown capability "CAP_41": use a name from capabilities(7) such as NET_BIND_SERVICE, with or without CAP_',
    ],
  ])("rejects %p and names a close match when there is one", (input, message) => {
    expect(thrown(() => parseCapability(input))).toEqual({ code: "USAGE", message });
  });

  test("throws with the code it is given, so config files can report CONFIG_INVALID", () => {
    expect(thrown(() => parseCapability("nope", "CONFIG_INVALID")).code).toBe("CONFIG_INVALID");
  });
});

describe("parseCapabilities", () => {
  test("orders by capability number and drops repeats however they are spelled", () => {
    expect(parseCapabilities(["sys_admin", "CAP_CHOWN", "net_raw", "CAP_SYS_ADMIN", "Sys_Admin"])).toEqual([
      "CAP_CHOWN",
      "CAP_NET_RAW",
      "CAP_SYS_ADMIN",
    ]);
  });
});

describe("capabilityMask", () => {
  test("sets bit n for capability n", () => {
    expect([
      capabilityMask([]),
      capabilityMask(["CAP_CHOWN"]),
      capabilityMask(["net_bind_service", "CAP_SYS_ADMIN", "NET_BIND_SERVICE"]),
      capabilityMask(["CAP_CHECKPOINT_RESTORE"]),
      capabilityMask(CAPABILITIES),
    ]).toEqual([0n, 1n, (1n << 10n) | (1n << 21n), 1n << 40n, (1n << 41n) - 1n]);
  });

  test("rejects an unknown name rather than leaving its bit out", () => {
    expect(thrown(() => capabilityMask(["CAP_CHOWN", "CAP_NOPE"]))).toEqual({
      code: "USAGE",
      message:
        'unknown capability "CAP_NOPE": use a name from capabilities(7) such as NET_BIND_SERVICE, with or without CAP_',
    });
  });
});
