// The unit parsers behind flags and cave.yaml: accepted forms, exact rejections, formatting.
import { describe, expect, test } from "bun:test";
import { isCaveError } from "../../../src/core/errors.ts";
import {
  formatDuration,
  formatSize,
  MAX_DURATION_MS,
  parseCount,
  parseCpus,
  parseDuration,
  parseSize,
} from "../../../src/core/units.ts";

/** The code and message of the CaveError `fn` throws; fails the test when it throws nothing else. */
function thrown(fn: () => unknown): { code: string; message: string } {
  try {
    fn();
  } catch (e) {
    if (isCaveError(e)) return { code: e.code, message: e.message };
    throw e;
  }
  throw new Error("expected a CaveError, but nothing was thrown");
}

const DURATION_USAGE = "use a number of seconds or a value like 500ms, 90s, 2m, 1h, 1m30s";
const SIZE_USAGE = "use a number of bytes or a value like 64k, 512M, 1.5G (K, M, G, T are powers of 1024)";

describe("parseDuration", () => {
  test.each([
    [120, 120_000],
    [0.5, 500],
    ["90", 90_000],
    ["1.5", 1500],
    ["90s", 90_000],
    ["500ms", 500],
    ["2m", 120_000],
    ["1h", 3_600_000],
    ["1.5s", 1500],
    ["1m30s", 90_000],
    ["1h2m3s", 3_723_000],
    ["168h", MAX_DURATION_MS],
  ] as const)("reads %p as %p milliseconds", (input, ms) => {
    expect(parseDuration(input)).toBe(ms);
  });

  test("rejects text that is not a duration and lists the accepted forms", () => {
    expect(thrown(() => parseDuration("abc"))).toEqual({
      code: "USAGE",
      message: `invalid duration "abc": ${DURATION_USAGE}`,
    });
  });

  test.each(["", "10d", "5 s", "1m30", "s", "1e3", "5S"])("rejects %p as malformed", (input) => {
    expect(thrown(() => parseDuration(input)).message).toBe(
      `invalid duration ${JSON.stringify(input)}: ${DURATION_USAGE}`,
    );
  });

  test.each([
    ["-5s", 'invalid duration "-5s": must be greater than zero'],
    ["0s", 'invalid duration "0s": must be greater than zero'],
    [0, "invalid duration 0: must be greater than zero"],
    [-1, "invalid duration -1: must be greater than zero"],
    [Number.NaN, `invalid duration NaN: ${DURATION_USAGE}`],
    [Number.POSITIVE_INFINITY, `invalid duration Infinity: ${DURATION_USAGE}`],
    ["0.0001s", 'invalid duration "0.0001s": must be at least 1ms'],
    ["200h", 'invalid duration "200h": must be at most 7 days (168h)'],
    [604_801, "invalid duration 604801: must be at most 7 days (168h)"],
  ] as const)("rejects %p with a message saying why", (input, message) => {
    expect(thrown(() => parseDuration(input))).toEqual({ code: "USAGE", message });
  });

  test("throws with the code it is given, so config files can report CONFIG_INVALID", () => {
    expect(thrown(() => parseDuration("abc", "CONFIG_INVALID")).code).toBe("CONFIG_INVALID");
  });
});

describe("parseSize", () => {
  const MiB = 1024 ** 2;
  const GiB = 1024 ** 3;
  test.each([
    [4096, 4096],
    ["100", 100],
    ["100B", 100],
    ["64k", 64 * 1024],
    ["64K", 64 * 1024],
    ["64KiB", 64 * 1024],
    ["512M", 512 * MiB],
    ["512MB", 512 * MiB],
    ["512MiB", 512 * MiB],
    ["512m", 512 * MiB],
    ["1G", GiB],
    ["1gb", GiB],
    ["1.5G", 1.5 * GiB],
    ["0.5k", 512],
    ["2T", 2 * 1024 ** 4],
  ] as const)("reads %p as %p bytes (K, M, G, T are powers of 1024)", (input, bytes) => {
    expect(parseSize(input)).toBe(bytes);
  });

  test.each(["lots", "", "1 G", "1e3", "1P", "G", "1iB", "1.G"])("rejects %p and lists the accepted forms", (input) => {
    expect(thrown(() => parseSize(input))).toEqual({
      code: "USAGE",
      message: `invalid size ${JSON.stringify(input)}: ${SIZE_USAGE}`,
    });
  });

  test.each([
    ["-1G", 'invalid size "-1G": must be greater than zero'],
    ["0", 'invalid size "0": must be greater than zero'],
    ["0M", 'invalid size "0M": must be greater than zero'],
    [0, "invalid size 0: must be greater than zero"],
    [-5, "invalid size -5: must be greater than zero"],
    ["1.1k", 'invalid size "1.1k": not a whole number of bytes'],
    [1.5, "invalid size 1.5: not a whole number of bytes"],
    ["9999999T", 'invalid size "9999999T": must be less than 8PiB'],
    [2 ** 53, "invalid size 9007199254740992: must be less than 8PiB"],
  ] as const)("rejects %p with a message saying why", (input, message) => {
    expect(thrown(() => parseSize(input))).toEqual({ code: "USAGE", message });
  });

  test("accepts zero only when asked, for limits where 0 means off", () => {
    expect(parseSize("0", "USAGE", { allowZero: true })).toBe(0);
    expect(parseSize(0, "USAGE", { allowZero: true })).toBe(0);
    expect(thrown(() => parseSize(-1, "CONFIG_INVALID", { allowZero: true }))).toEqual({
      code: "CONFIG_INVALID",
      message: "invalid size -1: must not be negative",
    });
  });
});

describe("parseCpus", () => {
  test.each([
    ["1.5", 1.5],
    [2, 2],
    ["0.5", 0.5],
    ["0.01", 0.01],
    [1024, 1024],
  ] as const)("reads %p as %p CPUs", (input, cpus) => {
    expect(parseCpus(input)).toBe(cpus);
  });

  test.each([
    ["abc", 'invalid cpus "abc": use a number of CPUs like 0.5, 1, 2'],
    ["1.5x", 'invalid cpus "1.5x": use a number of CPUs like 0.5, 1, 2'],
    [Number.NaN, "invalid cpus NaN: use a number of CPUs like 0.5, 1, 2"],
    ["0", 'invalid cpus "0": must be between 0.01 and 1024'],
    [0.001, "invalid cpus 0.001: must be between 0.01 and 1024"],
    ["-1", 'invalid cpus "-1": must be between 0.01 and 1024'],
    [1025, "invalid cpus 1025: must be between 0.01 and 1024"],
  ] as const)("rejects %p with a message saying why", (input, message) => {
    expect(thrown(() => parseCpus(input))).toEqual({ code: "USAGE", message });
  });
});

describe("parseCount", () => {
  test("reads whole numbers given as text or as numbers", () => {
    expect([parseCount("512", "pids"), parseCount(7, "pids"), parseCount("007", "pids")]).toEqual([512, 7, 7]);
  });

  test.each([
    ["0", 'invalid pids "0": must be greater than zero'],
    ["-3", 'invalid pids "-3": must be greater than zero'],
    [0, "invalid pids 0: must be greater than zero"],
    ["1.5", 'invalid pids "1.5": use a whole number greater than zero'],
    [1.5, "invalid pids 1.5: use a whole number greater than zero"],
    ["many", 'invalid pids "many": use a whole number greater than zero'],
  ] as const)("rejects %p naming the setting", (input, message) => {
    expect(thrown(() => parseCount(input, "pids"))).toEqual({ code: "USAGE", message });
  });

  test("enforces the maximum it is given", () => {
    expect(parseCount(100, "pids", "USAGE", { max: 100 })).toBe(100);
    expect(thrown(() => parseCount("101", "pids", "CONFIG_INVALID", { max: 100 }))).toEqual({
      code: "CONFIG_INVALID",
      message: 'invalid pids "101": must be at most 100',
    });
  });
});

describe("formatting", () => {
  test.each([
    [0, "0ms"],
    [500, "500ms"],
    [1000, "1s"],
    [1500, "1.5s"],
    [90_000, "1m30s"],
    [120_000, "2m"],
    [7_200_000, "2h"],
    [3_723_000, "1h2m3s"],
  ] as const)("formatDuration(%p) is %p", (ms, text) => {
    expect(formatDuration(ms)).toBe(text);
  });

  test("formatDuration output reads back through parseDuration", () => {
    const values = [1, 999, 1500, 61_001, 3_723_000, MAX_DURATION_MS];
    expect(values.map((ms) => parseDuration(formatDuration(ms)))).toEqual(values);
  });

  test.each([
    [100, "100B"],
    [1024, "1KiB"],
    [1536, "1.5KiB"],
    [512 * 1024 ** 2, "512MiB"],
    [1024 ** 3, "1GiB"],
    [1.25 * 1024 ** 4, "1.25TiB"],
    [2 ** 53, "8PiB"],
  ] as const)("formatSize(%p) is %p", (bytes, text) => {
    expect(formatSize(bytes)).toBe(text);
  });
});
