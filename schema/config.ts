// The one valibot schema for cave.yaml, the project config file. The CaveConfig type, the
// JSON Schema (schema/cave.schema.json) and the checks on the matching CLI flags derive from it.
import { posix } from "node:path";
import * as v from "valibot";
import { isCaveError } from "../src/core/errors.ts";
import {
  COUNT_PATTERN,
  DECIMAL_PATTERN,
  DURATION_PATTERN,
  MAX_CPUS,
  MIN_CPUS,
  SIZE_PATTERN,
  parseCount,
  parseCpus,
  parseDuration,
  parseSize,
} from "../src/core/units.ts";

type Parser = (value: string | number, code?: string) => number;

// PID_MAX_LIMIT on 64-bit kernels: a larger pids.max can never bind.
const PID_MAX_LIMIT = 4_194_304;

/** Parsers of the unit-valued `run` settings; flags go through the same ones. */
export const RUN_VALUE_PARSERS = {
  timeout: (x, code) => parseDuration(x, code),
  memory: (x, code) => parseSize(x, code),
  disk: (x, code) => parseSize(x, code),
  cpus: (x, code) => parseCpus(x, code),
  pids: (x, code) => parseCount(x, "pids", code, { max: PID_MAX_LIMIT }),
} satisfies Record<string, Parser>;

/** Parsers of the `run.rlimits` values; `--rlimit NAME=VALUE` goes through the same ones. */
export const RLIMIT_PARSERS = {
  nofile: (x, code) => parseCount(x, "nofile", code),
  nproc: (x, code) => parseCount(x, "nproc", code),
  fsize: (x, code) => parseSize(x, code),
  // 0 is the useful value here: it turns core dumps off.
  core: (x, code) => parseSize(x, code, { allowZero: true }),
} satisfies Record<string, Parser>;

export type RlimitName = keyof typeof RLIMIT_PARSERS;

export interface Bind {
  src: string;
  dst: string;
  readOnly: boolean;
}

const show = (s: string) => JSON.stringify(s);

/** Why `path` is not a usable absolute path, or undefined when it is. */
export function pathProblem(path: string): string | undefined {
  // A NUL would silently cut the path short on its way to the kernel.
  if (path.includes("\0")) return `${show(path)} contains a NUL byte`;
  if (!path.startsWith("/")) return `${show(path)} is not an absolute path`;
  if (path.split("/").includes("..")) return `${show(path)} must not contain ".." components`;
  return undefined;
}

/** Collapses "//", "." and a trailing "/", so "/x/" and "/x" name one mount point. */
function normalizePath(path: string): string {
  const p = posix.normalize(path);
  return p.length > 1 ? p.replace(/\/+$/, "") : p;
}

/** Splits "SRC:DST[:ro|rw]" (rw when no mode is given); a string result says what is wrong. */
export function splitBind(spec: string): Bind | string {
  const fail = (why: string) => `invalid bind ${show(spec)}: ${why}`;
  const parts = spec.split(":");
  const [src = "", dst = "", mode = "rw"] = parts;
  if (parts.length < 2 || parts.length > 3) return fail("use SRC:DST or SRC:DST:ro|rw with absolute paths");
  const srcProblem = pathProblem(src);
  if (srcProblem) return fail(`source ${srcProblem}`);
  const dstProblem = pathProblem(dst);
  if (dstProblem) return fail(`destination ${dstProblem}`);
  if (normalizePath(dst) === "/") return fail('destination must not be "/"; use rootfs to replace the root');
  if (mode !== "ro" && mode !== "rw") return fail(`mode must be ro or rw, not ${show(mode)}`);
  return { src: normalizePath(src), dst: normalizePath(dst), readOnly: mode === "ro" };
}

/** The message of the CaveError `fn` throws, or undefined when it returns. */
function problem(fn: () => unknown): string | undefined {
  try {
    fn();
    return undefined;
  } catch (e) {
    if (isCaveError(e)) return e.message;
    throw e;
  }
}

function isMapping(x: unknown): boolean {
  return typeof x === "object" && x !== null && !Array.isArray(x);
}

/** How a wrong value reads in a message: YAML words for containers, the value otherwise. */
function received(issue: { input: unknown; received: string }): string {
  if (Array.isArray(issue.input)) return "a list";
  return isMapping(issue.input) ? "a mapping" : issue.received;
}

function editDistance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    for (let j = 1; j <= b.length; j++) {
      row[j] = Math.min(
        (prev[j] as number) + 1,
        (row[j - 1] as number) + 1,
        (prev[j - 1] as number) + (a[i - 1] === b[j - 1] ? 0 : 1),
      );
    }
    prev = row;
  }
  return prev[b.length] as number;
}

function unknownKeyMessage(key: string, allowed: string[]): string {
  const near = allowed.find((k) => editDistance(k, key) <= Math.max(1, Math.floor(k.length / 3)));
  const guess = near ? `; did you mean ${show(near)}?` : "";
  return `unknown key${guess} (allowed: ${allowed.join(", ")})`;
}

/**
 * A YAML mapping with these keys and no others. valibot's objects also take arrays,
 * so a guard goes first; the JSON Schema is generated from the strictObject (typeMode output).
 */
function mapping<const E extends v.ObjectEntries>(entries: E, what: string) {
  return v.pipe(
    v.custom<Record<string, unknown>>(isMapping, (issue) =>
      issue.input === null ? "is empty; remove it or put settings under it" : `must be ${what}, not ${received(issue)}`,
    ),
    v.strictObject(entries, (issue) => unknownKeyMessage(String(issue.input), Object.keys(entries))),
  );
}

const string = () => v.string((issue) => `must be a string, not ${received(issue)}`);

const absolutePath = (description: string) =>
  v.pipe(
    string(),
    v.rawCheck<string>(({ dataset, addIssue }) => {
      const message = dataset.typed ? pathProblem(dataset.value) : undefined;
      if (message) addIssue({ message });
    }),
    v.metadata({ pattern: "^/" }),
    v.description(description),
  );

/** A number or a string, checked by the same parser the matching flag goes through. */
function unitValue(
  parse: Parser,
  expected: string,
  json: { number: Record<string, unknown>; pattern: RegExp },
  description: string,
  examples: (string | number)[],
) {
  return v.pipe(
    v.union(
      [v.pipe(v.number(), v.metadata(json.number)), v.pipe(v.string(), v.metadata({ pattern: json.pattern.source }))],
      (issue) => `must be ${expected}, not ${received(issue)}`,
    ),
    v.rawCheck<string | number>(({ dataset, addIssue }) => {
      const message = dataset.typed ? problem(() => parse(dataset.value, "CONFIG_INVALID")) : undefined;
      if (message) addIssue({ message });
    }),
    v.description(description),
    v.examples(examples),
  );
}

const duration = (description: string, examples: (string | number)[]) =>
  unitValue(
    RUN_VALUE_PARSERS.timeout,
    "a duration like 90s or a number of seconds",
    { number: { exclusiveMinimum: 0 }, pattern: DURATION_PATTERN },
    description,
    examples,
  );

const size = (parse: Parser, description: string, examples: (string | number)[], minimum = 1) =>
  unitValue(
    parse,
    "a size like 512M or a number of bytes",
    { number: { type: "integer", minimum }, pattern: SIZE_PATTERN },
    description,
    examples,
  );

const count = (parse: Parser, description: string, examples: number[], maximum?: number) =>
  unitValue(
    parse,
    "a whole number",
    { number: { type: "integer", minimum: 1, ...(maximum ? { maximum } : {}) }, pattern: COUNT_PATTERN },
    description,
    examples,
  );

export const ENV_NAME_PATTERN = /^[A-Za-z_][A-Za-z0-9_]*$/;
// RFC 1123 label: what sethostname and every resolver agree on.
const HOSTNAME_PATTERN = /^[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?$/;

export const EnvNameSchema = v.pipe(
  string(),
  v.regex(
    ENV_NAME_PATTERN,
    (issue) =>
      `invalid environment variable name ${issue.received}: use letters, digits and _, not starting with a digit`,
  ),
);

export const EnvValueSchema = v.pipe(
  v.string((issue) => `must be a string, not ${received(issue)}; quote it in YAML`),
  v.check((s: string) => !s.includes("\0"), "must not contain a NUL byte"),
);

export const BindSpecSchema = v.pipe(
  v.string((issue) => `must be a string like "/src:/dst:ro", not ${received(issue)}`),
  v.rawCheck<string>(({ dataset, addIssue }) => {
    const result = dataset.typed ? splitBind(dataset.value) : undefined;
    if (typeof result === "string") addIssue({ message: result });
  }),
  v.metadata({ pattern: "^/[^:]*:/[^:]*(:(ro|rw))?$" }),
);

const rlimitsSchema = v.pipe(
  mapping(
    {
      nofile: v.optional(count(RLIMIT_PARSERS.nofile, "RLIMIT_NOFILE: most open file descriptors.", [1024])),
      nproc: v.optional(
        count(RLIMIT_PARSERS.nproc, "RLIMIT_NPROC: most processes of the sandbox user. Unset by default.", [4096]),
      ),
      fsize: v.optional(
        size(RLIMIT_PARSERS.fsize, "RLIMIT_FSIZE: largest file a process may write. Unset by default.", ["1G"]),
      ),
      core: v.optional(size(RLIMIT_PARSERS.core, "RLIMIT_CORE: largest core dump; 0 turns them off.", [0], 0)),
    },
    "a mapping of resource limits",
  ),
  v.description("Resource limits (setrlimit) applied to every process in the sandbox."),
);

/** The `run` settings, exported one by one so flags are checked by the same schemas. */
export const RunFields = {
  timeout: v.optional(
    duration("Wall-clock limit; the sandbox is killed when it runs out. A number means seconds.", ["120s", "2m", 30]),
  ),
  memory: v.optional(
    size(
      RUN_VALUE_PARSERS.memory,
      "Memory limit (cgroup memory.max). K, M, G, T are powers of 1024: 512M means 512 MiB, as in docker.",
      ["1G", "512M"],
    ),
  ),
  cpus: v.optional(
    unitValue(
      RUN_VALUE_PARSERS.cpus,
      "a number of CPUs like 0.5 or 2",
      { number: { minimum: MIN_CPUS, maximum: MAX_CPUS }, pattern: DECIMAL_PATTERN },
      `CPU time limit in CPUs (cgroup cpu.max), from ${MIN_CPUS} to ${MAX_CPUS}; 0.5 is half of one CPU.`,
      [2, 0.5],
    ),
  ),
  pids: v.optional(
    count(RUN_VALUE_PARSERS.pids, "Most processes and threads alive at once (cgroup pids.max).", [1024], PID_MAX_LIMIT),
  ),
  disk: v.optional(
    size(
      RUN_VALUE_PARSERS.disk,
      "Size of the tmpfs that holds every write inside the sandbox; it counts against memory too.",
      ["1G"],
    ),
  ),
  network: v.optional(
    v.pipe(
      v.picklist(["none", "host"], (issue) => `invalid network ${received(issue)}: use none or host`),
      v.description('"none": only a private loopback interface. "host": share the host network.'),
    ),
  ),
  hostname: v.optional(
    v.pipe(
      string(),
      v.regex(
        HOSTNAME_PATTERN,
        (issue) =>
          `invalid hostname ${issue.received}: use 1 to 63 letters, digits and -, not starting or ending with -`,
      ),
      v.description("Hostname inside the sandbox: one RFC 1123 label, at most 63 characters."),
    ),
  ),
  workdir: v.optional(absolutePath("Working directory of the command, an absolute path inside the sandbox.")),
  rootfs: v.optional(absolutePath("Host directory mounted read-only as the sandbox root instead of the host's own /.")),
  env: v.optional(
    v.pipe(
      v.custom<Record<string, unknown>>(
        isMapping,
        (issue) => `must be a mapping of NAME: value, not ${received(issue)}`,
      ),
      v.record(EnvNameSchema, EnvValueSchema),
      v.description("Extra environment variables for the command; values are strings (quote numbers)."),
      v.examples([{ LANG: "C.UTF-8" }]),
    ),
  ),
  binds: v.optional(
    v.pipe(
      v.array(BindSpecSchema, (issue) => `must be a list of "SRC:DST[:ro|rw]" strings, not ${received(issue)}`),
      v.rawCheck<string[]>(({ dataset, addIssue }) => {
        if (!dataset.typed) return;
        const seen = new Set<string>();
        for (const spec of dataset.value) {
          const bind = splitBind(spec);
          if (typeof bind === "string") continue;
          if (seen.has(bind.dst)) addIssue({ message: `destination ${show(bind.dst)} is bound more than once` });
          seen.add(bind.dst);
        }
      }),
      v.description(
        "Host paths mounted into the sandbox as SRC:DST[:ro|rw], both absolute and without ':'. " +
          "rw, the default, lets sandboxed code change the host files; every other write stays in the disk tmpfs.",
      ),
      v.examples([["/home/me/project:/work", "/etc/ssl:/etc/ssl:ro"]]),
    ),
  ),
  rlimits: v.optional(rlimitsSchema),
};

export const RunSchema = v.pipe(
  mapping(RunFields, "a mapping of run settings"),
  v.description("Settings of `cave run`; command-line flags override them."),
);

export const ConfigSchema = v.pipe(
  mapping({ run: v.optional(RunSchema) }, "a mapping with a run section"),
  v.title("cave.yaml"),
  v.description("Project configuration for cave, read from ./cave.yaml. Every key is optional."),
);

export type CaveConfig = v.InferOutput<typeof ConfigSchema>;
