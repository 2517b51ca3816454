// Parsers of the unit-valued settings of a run (flags and cave.yaml go through the same ones).
// Apart from schema/config.ts so a `cave run --memory 512M` need not load valibot to read it.
import { parseCount, parseCpus, parseDuration, parseSize } from "./units.ts";

export type Parser = (value: string | number, code?: string) => number;

// PID_MAX_LIMIT on 64-bit kernels: a larger pids.max can never bind.
export const PID_MAX_LIMIT = 4_194_304;

/** `none` lifts a cgroup limit: Infinity stands for "no limit" (cgroup "max"). */
export const UNLIMITED = "none";
const orUnlimited =
  (parse: Parser): Parser =>
  (x, code) =>
    x === UNLIMITED ? Number.POSITIVE_INFINITY : parse(x, code);
export const withNone = (re: RegExp) => new RegExp(`^(?:${UNLIMITED}|${re.source.replace(/^\^|\$$/g, "")})$`);

/** Parsers of the unit-valued `run` settings; flags go through the same ones. */
export const RUN_VALUE_PARSERS = {
  timeout: (x, code) => parseDuration(x, code),
  memory: orUnlimited((x, code) => parseSize(x, code)),
  disk: (x, code) => parseSize(x, code),
  cpus: orUnlimited((x, code) => parseCpus(x, code)),
  pids: orUnlimited((x, code) => parseCount(x, "pids", code, { max: PID_MAX_LIMIT })),
} satisfies Record<string, Parser>;

/** Parsers of the `run.rlimits` values; `--rlimit NAME=VALUE` goes through the same ones. */
export const RLIMIT_PARSERS = {
  nofile: (x, code) => parseCount(x, "nofile", code),
  nproc: (x, code) => parseCount(x, "nproc", code),
  fsize: (x, code) => parseSize(x, code),
  // 0 is the useful value here: it turns core dumps off.
  core: (x, code) => parseSize(x, code, { allowZero: true }),
} satisfies Record<string, Parser>;
