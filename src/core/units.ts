// Parsers for the human-friendly values in flags and cave.yaml (durations, sizes, CPU and
// other counts) and the formatters that print them back in messages. Pure: no I/O.
import { CaveError } from "./errors.ts";

// The string syntaxes are exported so the JSON Schema states the very rules applied here.
/** A number of seconds ("90", "1.5") or unit terms in sequence ("500ms", "2m", "1m30s"). */
export const DURATION_PATTERN = /^(?:\d+(?:\.\d+)?|(?:\d+(?:\.\d+)?(?:ms|s|m|h))+)$/;
/** Bytes ("100", "100B") or a binary multiple ("64k", "512M", "512MB", "512MiB", "1.5G"). */
export const SIZE_PATTERN = /^(\d+)(?:\.(\d+))?(?:([kKmMgGtT])(?:[iI]?[bB])?|[bB])?$/;
export const DECIMAL_PATTERN = /^\d+(?:\.\d+)?$/;
export const COUNT_PATTERN = /^\d+$/;

/** Longer than any sandboxed run should take; a larger value is almost surely a typo. */
export const MAX_DURATION_MS = 7 * 24 * 3_600_000;
// cgroup v2 cpu.max refuses a quota under 1ms of the default 100ms period.
export const MIN_CPUS = 0.01;
export const MAX_CPUS = 1024;

const DURATION_UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };
const SIZE_SHIFT: Record<string, bigint> = { k: 10n, m: 20n, g: 30n, t: 40n };
const DURATION_USAGE = "use a number of seconds or a value like 500ms, 90s, 2m, 1h, 1m30s";
const SIZE_USAGE = "use a number of bytes or a value like 64k, 512M, 1.5G (K, M, G, T are powers of 1024)";

function show(v: string | number): string {
  return typeof v === "string" ? JSON.stringify(v) : String(v);
}

/** "-5s" is well formed but negative: say so instead of listing the accepted forms. */
function isNegated(v: string, pattern: RegExp): boolean {
  return v.startsWith("-") && pattern.test(v.slice(1));
}

/** Duration in milliseconds; a bare number means seconds. */
export function parseDuration(v: string | number, code = "USAGE"): number {
  const fail = (why: string) => new CaveError(code, `invalid duration ${show(v)}: ${why}`);
  let ms: number;
  if (typeof v === "number") {
    if (!Number.isFinite(v)) throw fail(DURATION_USAGE);
    ms = v * 1000;
  } else if (isNegated(v, DURATION_PATTERN)) {
    throw fail("must be greater than zero");
  } else if (!DURATION_PATTERN.test(v)) {
    throw fail(DURATION_USAGE);
  } else if (DECIMAL_PATTERN.test(v)) {
    ms = Number(v) * 1000;
  } else {
    ms = 0;
    for (const [, n, unit] of v.matchAll(/(\d+(?:\.\d+)?)(ms|s|m|h)/g)) {
      ms += Number(n) * (DURATION_UNIT_MS[unit as string] as number);
    }
  }
  if (ms <= 0) throw fail("must be greater than zero");
  ms = Math.round(ms);
  if (ms < 1) throw fail("must be at least 1ms");
  if (ms > MAX_DURATION_MS) throw fail(`must be at most 7 days (${formatDuration(MAX_DURATION_MS)})`);
  return ms;
}

/**
 * Size in bytes; a bare number means bytes. K, M, G and T are powers of 1024 whether or not
 * an "i" or "B" follows, as docker reads them: 512M, 512MB and 512MiB are all 512 MiB.
 */
export function parseSize(v: string | number, code = "USAGE", opts: { allowZero?: boolean } = {}): number {
  const fail = (why: string) => new CaveError(code, `invalid size ${show(v)}: ${why}`);
  const tooSmall = opts.allowZero ? "must not be negative" : "must be greater than zero";
  let bytes: number;
  if (typeof v === "number") {
    if (!Number.isFinite(v)) throw fail(SIZE_USAGE);
    if (v < 0 || (v === 0 && !opts.allowZero)) throw fail(tooSmall);
    if (!Number.isInteger(v)) throw fail("not a whole number of bytes");
    if (v > Number.MAX_SAFE_INTEGER) throw fail(`must be less than ${formatSize(2 ** 53)}`);
    bytes = v;
  } else {
    const m = SIZE_PATTERN.exec(v);
    if (!m) throw fail(isNegated(v, SIZE_PATTERN) ? tooSmall : SIZE_USAGE);
    const [, int = "", frac = "", unit] = m;
    // Exact decimal arithmetic: 1.5G is a whole number of bytes, 1.1k is not.
    const scaled = BigInt(int + frac) << (unit ? (SIZE_SHIFT[unit.toLowerCase()] as bigint) : 0n);
    const denominator = 10n ** BigInt(frac.length);
    if (scaled % denominator !== 0n) throw fail("not a whole number of bytes");
    const big = scaled / denominator;
    if (big > BigInt(Number.MAX_SAFE_INTEGER)) throw fail(`must be less than ${formatSize(2 ** 53)}`);
    bytes = Number(big);
    if (bytes === 0 && !opts.allowZero) throw fail(tooSmall);
  }
  return bytes;
}

/** Number of CPUs, fractional allowed ("0.5" is half of one CPU's time). */
export function parseCpus(v: string | number, code = "USAGE"): number {
  const fail = (why: string) => new CaveError(code, `invalid cpus ${show(v)}: ${why}`);
  let n: number;
  if (typeof v === "number") n = v;
  else if (DECIMAL_PATTERN.test(v)) n = Number(v);
  else if (isNegated(v, DECIMAL_PATTERN)) n = -Number(v.slice(1));
  else throw fail("use a number of CPUs like 0.5, 1, 2");
  if (!Number.isFinite(n)) throw fail("use a number of CPUs like 0.5, 1, 2");
  if (n < MIN_CPUS || n > MAX_CPUS) throw fail(`must be between ${MIN_CPUS} and ${MAX_CPUS}`);
  return n;
}

/** A whole number greater than zero; `what` names it in the message ("pids", "nofile"). */
export function parseCount(v: string | number, what: string, code = "USAGE", opts: { max?: number } = {}): number {
  const fail = (why: string) => new CaveError(code, `invalid ${what} ${show(v)}: ${why}`);
  let n: number;
  if (typeof v === "number") n = v;
  else if (COUNT_PATTERN.test(v)) n = Number(v);
  else if (isNegated(v, COUNT_PATTERN)) throw fail("must be greater than zero");
  else throw fail("use a whole number greater than zero");
  if (!Number.isInteger(n)) throw fail("use a whole number greater than zero");
  if (n <= 0) throw fail("must be greater than zero");
  const max = opts.max ?? Number.MAX_SAFE_INTEGER;
  if (n > max) throw fail(`must be at most ${max}`);
  return n;
}

/** "500ms", "1.5s", "1m30s", "2h": the forms parseDuration reads back. */
export function formatDuration(ms: number): string {
  if (ms < 1000) return `${ms}ms`;
  const h = Math.floor(ms / 3_600_000);
  const m = Math.floor((ms % 3_600_000) / 60_000);
  const s = (ms % 60_000) / 1000;
  return `${h ? `${h}h` : ""}${m ? `${m}m` : ""}${s ? `${s}s` : ""}`;
}

/** "512MiB", "1.5GiB", "100B": the largest binary unit, at most two decimals. */
export function formatSize(bytes: number): string {
  const units = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
  let i = 0;
  while (i < units.length - 1 && bytes >= 1024 ** (i + 1)) i++;
  return `${Number((bytes / 1024 ** i).toFixed(2))}${units[i]}`;
}
