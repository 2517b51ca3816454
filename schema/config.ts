// The one valibot schema for cave.yaml, the project config file. The CaveConfig type, the
// JSON Schema (schema/cave.schema.json) and the checks on the matching CLI flags derive from it.
import * as v from "valibot";
import type { BUILTIN_PROFILES, SeccompAction } from "../src/core/seccomp-profiles.ts";
import { CAPABILITY_PATTERN, parseCapability } from "../src/core/capabilities.ts";
import { ERRNO_NAMES } from "../src/core/errno.ts";
import { isCaveError } from "../src/core/errors.ts";
import { closeMatch } from "../src/core/suggest.ts";
import { parseLongDuration } from "./governance.ts";
import {
  COUNT_PATTERN,
  DECIMAL_PATTERN,
  DURATION_PATTERN,
  MAX_CPUS,
  MIN_CPUS,
  SIZE_PATTERN,
} from "../src/core/units.ts";

import {
  PID_MAX_LIMIT,
  type Parser,
  RLIMIT_PARSERS,
  RUN_VALUE_PARSERS,
  UNLIMITED,
  withNone,
} from "../src/core/run-values.ts";

export { RLIMIT_PARSERS, RUN_VALUE_PARSERS, UNLIMITED };

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

/** Collapses "//", "." and a trailing "/", so "/x/" and "/x" name one mount point ("..": rejected earlier). */
function normalizePath(path: string): string {
  return `/${path.split("/").filter((c) => c !== "" && c !== ".").join("/")}`;
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

function unknownKeyMessage(key: string, allowed: string[]): string {
  const near = closeMatch(key, allowed);
  const guess = near ? `; did you mean ${show(near)}?` : "";
  return `unknown key${guess} (allowed: ${allowed.join(", ")})`;
}

/**
 * A YAML mapping with these keys and no others. valibot's objects also take arrays,
 * so a guard goes first; the JSON Schema is generated from the strictObject (typeMode output).
 */
function mapping<const E extends v.ObjectEntries>(entries: E, what: string) {
  const required = Object.keys(entries).filter((k) => !["optional", "nullish"].includes(entries[k]?.type ?? ""));
  return v.pipe(
    v.custom<Record<string, unknown>>(isMapping, (issue) =>
      issue.input === null ? "is empty; remove it or put settings under it" : `must be ${what}, not ${received(issue)}`,
    ),
    v.strictObject(entries, (issue) =>
      // valibot reports a missing key and an unknown one alike; only an unknown one has "never" expected.
      issue.expected === "never"
        ? unknownKeyMessage(String(issue.input), Object.keys(entries))
        : `missing key ${issue.expected} (required: ${required.join(", ")})`,
    ),
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

const size = (parse: Parser, description: string, examples: (string | number)[], minimum = 1, none = false) =>
  unitValue(
    parse,
    none ? "a size like 512M, a number of bytes, or none" : "a size like 512M or a number of bytes",
    { number: { type: "integer", minimum }, pattern: none ? withNone(SIZE_PATTERN) : SIZE_PATTERN },
    description,
    examples,
  );

const count = (parse: Parser, description: string, examples: (number | string)[], maximum?: number) =>
  unitValue(
    parse,
    "a whole number or none",
    { number: { type: "integer", minimum: 1, ...(maximum ? { maximum } : {}) }, pattern: withNone(COUNT_PATTERN) },
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

/** Names `--seccomp` and `run.seccomp` accept; `none` loads no filter at all. */
export const SECCOMP_PROFILE_NAMES = ["default", "strict", "none"] as const;
export type SeccompProfileName = (typeof SECCOMP_PROFILE_NAMES)[number];

/** Built-in profiles a custom one may start from. */
export const SECCOMP_BASES = ["default", "strict"] as const satisfies readonly (keyof typeof BUILTIN_PROFILES)[];

/** The largest errno: libc reads a larger negative return as success, not as an error. */
export const MAX_ERRNO = 4095;

export const SYSCALL_NAME_PATTERN = /^[a-z0-9_]+$/;
const SECCOMP_ACTION_PATTERN = /^(allow|kill|log|errno +([0-9]+|E[A-Z0-9]+))$/;
const ACTION_FORMS = `allow, kill, log or errno N (N from 1 to ${MAX_ERRNO}, or a name like EPERM)`;

/** "allow", "kill", "log", "errno 1", "errno EPERM" → an action; a string result says what is wrong. */
export function parseSeccompAction(text: string): SeccompAction | string {
  if (text === "allow" || text === "kill" || text === "log") return { kind: text };
  const fail = (why: string) => `invalid seccomp action ${show(text)}: ${why}`;
  const arg = /^errno +(\S+)$/.exec(text)?.[1];
  if (arg === undefined) return fail(`use ${ACTION_FORMS}`);
  if (/^[+-]?[0-9]+$/.test(arg)) {
    const errno = Number(arg);
    return errno >= 1 && errno <= MAX_ERRNO ? { kind: "errno", errno } : fail(`errno must be from 1 to ${MAX_ERRNO}`);
  }
  const errno = Object.hasOwn(ERRNO_NAMES, arg) ? ERRNO_NAMES[arg] : undefined;
  if (errno !== undefined) return { kind: "errno", errno };
  const near = closeMatch(arg.toUpperCase(), Object.keys(ERRNO_NAMES));
  return fail(`unknown errno name ${show(arg)}${near ? `; did you mean ${near}?` : ""}`);
}

const seccompAction = (description: string) =>
  v.pipe(
    v.string((issue) => `must be a seccomp action (${ACTION_FORMS}), not ${received(issue)}`),
    v.rawCheck<string>(({ dataset, addIssue }) => {
      const result = dataset.typed ? parseSeccompAction(dataset.value) : undefined;
      if (typeof result === "string") addIssue({ message: result });
    }),
    v.metadata({ pattern: SECCOMP_ACTION_PATTERN.source }),
    v.description(description),
    v.examples(["errno EPERM", "kill"]),
  );

const seccompRule = mapping(
  {
    names: v.pipe(
      v.array(
        v.pipe(
          string(),
          v.regex(
            SYSCALL_NAME_PATTERN,
            (issue) =>
              `invalid syscall name ${issue.received}: use the kernel's name in lowercase letters, digits and _`,
          ),
        ),
        (issue) => `must be a list of syscall names, not ${received(issue)}`,
      ),
      v.minLength(1, "must name at least one syscall"),
      v.description("Syscalls the rule applies to; libseccomp checks the names when the sandbox starts."),
      v.examples([["ptrace", "mount"]]),
    ),
    action: seccompAction("What a call to one of these syscalls does."),
  },
  "a mapping with names and action",
);

const seccompCustom = v.pipe(
  mapping(
    {
      base: v.optional(
        v.pipe(
          v.picklist(SECCOMP_BASES, (issue) => `invalid base profile ${received(issue)}: use default or strict`),
          v.description("Built-in profile whose rules come first; the rules below are added after them."),
        ),
      ),
      default: v.optional(
        seccompAction("Action for syscalls no rule names; with base, the base profile's unless given."),
      ),
      syscalls: v.optional(
        v.pipe(
          v.array(seccompRule, (issue) => `must be a list of rules with names and action, not ${received(issue)}`),
          v.description("Rules naming syscalls and the action they get, added after the base profile's rules."),
        ),
      ),
    },
    "a mapping with default and syscalls",
  ),
  v.rawCheck(({ dataset, addIssue }) => {
    if (dataset.typed && dataset.value.base === undefined && dataset.value.default === undefined) {
      addIssue({ message: "needs default (the action for syscalls no rule names) or base (a built-in profile)" });
    }
  }),
);

/** `--seccomp` takes only the built-in names; a custom profile needs cave.yaml. */
export const SeccompNameSchema = v.picklist(
  SECCOMP_PROFILE_NAMES,
  (issue) =>
    `invalid seccomp profile ${received(issue)}: use default, strict or none (a custom profile goes under run.seccomp in cave.yaml)`,
);

const seccompFileName = v.picklist(SECCOMP_PROFILE_NAMES, (issue) =>
  typeof issue.input === "string"
    ? `invalid seccomp profile ${received(issue)}: use default, strict or none, or a mapping that defines a profile`
    : `must be default, strict, none or a mapping that defines a profile, not ${received(issue)}`,
);

const capabilityName = v.pipe(
  v.string((issue) => `must be a capability name like NET_BIND_SERVICE, not ${received(issue)}`),
  v.rawCheck<string>(({ dataset, addIssue }) => {
    const message = dataset.typed ? problem(() => parseCapability(dataset.value, "CONFIG_INVALID")) : undefined;
    if (message) addIssue({ message });
  }),
  v.metadata({ pattern: CAPABILITY_PATTERN.source }),
);

/** The `run` settings, exported one by one so flags are checked by the same schemas. */
export const RunFields = {
  timeout: v.optional(
    duration("Wall-clock limit; the sandbox is killed when it runs out. A number means seconds.", ["120s", "2m", 30]),
  ),
  memory: v.optional(
    size(
      RUN_VALUE_PARSERS.memory,
      "Memory limit (cgroup memory.max). K, M, G, T are powers of 1024: 512M means 512 MiB, as in docker. none: no limit.",
      ["1G", "512M", "none"],
      1,
      true,
    ),
  ),
  cpus: v.optional(
    unitValue(
      RUN_VALUE_PARSERS.cpus,
      "a number of CPUs like 0.5 or 2, or none",
      { number: { minimum: MIN_CPUS, maximum: MAX_CPUS }, pattern: withNone(DECIMAL_PATTERN) },
      `CPU time limit in CPUs (cgroup cpu.max), from ${MIN_CPUS} to ${MAX_CPUS}; 0.5 is half of one CPU. none: no limit.`,
      [2, 0.5, "none"],
    ),
  ),
  pids: v.optional(
    count(RUN_VALUE_PARSERS.pids, "Most processes and threads alive at once (cgroup pids.max). none: no limit.", [1024, "none"], PID_MAX_LIMIT),
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
  seccomp: v.optional(
    v.pipe(
      // valibot's union says only "no option matched" when each fails, so the YAML type picks
      // the option first and its own messages come through. The union after it cannot fail
      // then; it is what the JSON Schema is generated from (typeMode "output").
      v.lazy<v.GenericSchema>((input) => (isMapping(input) || input === null ? seccompCustom : seccompFileName)),
      v.union([SeccompNameSchema, seccompCustom]),
      v.description(
        'Syscall filter: "default" denies the escape classes, "strict" allows only what ordinary programs ' +
          'need, "none" loads no filter; or a profile of your own: default, syscalls, and optionally base.',
      ),
      v.examples(["strict", { base: "default", syscalls: [{ names: ["ptrace"], action: "errno EPERM" }] }]),
    ),
  ),
  cap_add: v.optional(
    v.pipe(
      v.array(capabilityName, (issue) => `must be a list of capability names, not ${received(issue)}`),
      v.description(
        "Capabilities the command keeps (capabilities(7)), with or without CAP_, in any case; none by default.",
      ),
      v.examples([["NET_BIND_SERVICE"]]),
    ),
  ),
};

export const RunSchema = v.pipe(
  mapping(RunFields, "a mapping of run settings"),
  v.description("Settings of `cave run`; command-line flags override them."),
);

/** The `db` settings: where the database lives. CAVE_DATA_DIR and the --url/--data-dir flags override them. */
export const DbSchema = v.pipe(
  mapping(
    {
      data_dir: v.optional(
        absolutePath(
          "Directory that holds cave's data (the database file cave.db and the shell history). " +
            "Default: /var/lib/cave for root, else $XDG_DATA_HOME/cave or ~/.local/share/cave.",
        ),
      ),
      url: v.optional(
        v.pipe(
          string(),
          v.nonEmpty("must not be empty; leave it out to use <data_dir>/cave.db"),
          v.description(
            "The database instead of <data_dir>/cave.db: a path, file:/abs/path.db, :memory:, or a libSQL server " +
              "(libsql://, http(s)://, ws(s)://; the token goes in CAVE_DB_AUTH_TOKEN).",
          ),
          v.examples(["file:/srv/cave/app.db", "libsql://db.example.com"]),
        ),
      ),
      statement_timeout: v.optional(
        duration(
          "The longest one statement sent to the data API's POST /query may run before it is cancelled with " +
            "SQLSTATE 57014; a number means seconds. Default 8s (Supabase's for authenticated). Such statements run " +
            "off the server's event loop, so others are answered meanwhile. cave db and migrations are not limited.",
          ["8s", 30],
        ),
      ),
      max_rows: v.optional(
        v.pipe(
          v.union(
            [
              v.pipe(
                v.number(),
                v.integer("must be a whole number"),
                v.minValue(1, "must be at least 1"),
                v.maxValue(1_000_000_000, "must be at most 1000000000"),
              ),
              v.literal("none"),
            ],
            (issue) => `must be a whole number of rows or none, not ${received(issue)}`,
          ),
          v.description(
            "The most rows one read through the data API's /rest/v1 (a table, a view, an rpc that returns rows) " +
              "answers, whatever limit or Range the client asks for: PostgREST's db-max-rows. Default 1000 " +
              "(Supabase's); none lifts it. POST /query is bounded by db.statement_timeout instead.",
          ),
          v.examples([1000, "none"]),
        ),
      ),
      query_roles: v.optional(
        v.pipe(
          v.array(
            v.picklist(
              ["anon", "authenticated", "service_role"],
              (issue) => `unknown role ${received(issue)}: use anon, authenticated or service_role`,
            ),
          ),
          v.description(
            "Roles that may send SQL to the data API's POST /query (default: all three; policies apply to each, " +
              "and db.statement_timeout bounds each statement). [service_role] closes it to clients: REST, rpc and " +
              "auth stay open to every role.",
          ),
          v.examples([["service_role"]]),
        ),
      ),
    },
    "a mapping of database settings",
  ),
  v.description("Settings of the embedded database and `cave db`."),
);

/** Fewest characters of a given HS256 secret (cave.yaml auth.jwt_secret, CAVE_JWT_SECRET). */
export const MIN_JWT_SECRET_LENGTH = 32;
export const JWT_ALGORITHMS = ["HS256", "ES256"] as const;
export type JwtAlgorithm = (typeof JWT_ALGORITHMS)[number];

/** The `auth` settings: bkg-db's users and tokens (src/auth/, docs/auth.md). */
/** A request count per 5 minutes (the auth service's rate limits). */
const perFiveMinutes = (what: string) =>
  v.pipe(
    v.number((issue) => `must be a whole number, not ${received(issue)}`),
    v.integer("must be a whole number"),
    v.minValue(1, "must be at least 1"),
    v.maxValue(1_000_000, "must be at most 1000000"),
    v.description(what),
  );

export const AuthSchema = v.pipe(
  mapping(
    {
      jwt_algorithm: v.optional(
        v.pipe(
          v.picklist(JWT_ALGORITHMS, (issue) => `invalid JWT algorithm ${received(issue)}: use HS256 or ES256`),
          v.description(
            "How tokens are signed. HS256 (default): a shared secret. ES256: a P-256 key kept in " +
              "<data_dir>/auth/, its public half served at /auth/v1/.well-known/jwks.json. Only this algorithm is accepted.",
          ),
        ),
      ),
      jwt_secret: v.optional(
        v.pipe(
          string(),
          v.minLength(
            MIN_JWT_SECRET_LENGTH,
            `must be at least ${MIN_JWT_SECRET_LENGTH} characters; make one with: openssl rand -base64 32`,
          ),
          v.description(
            "The HS256 secret instead of the one generated at first start in <data_dir>/auth/jwt-secret. " +
              "CAVE_JWT_SECRET overrides it. At least 32 characters.",
          ),
        ),
      ),
      jwt_expiry: v.optional(
        duration("Lifetime of an access token; a number means seconds. Default 3600 (one hour).", ["1h", 3600]),
      ),
      confirm_email: v.optional(
        v.pipe(
          v.boolean((issue) => `must be true or false, not ${received(issue)}`),
          v.description(
            "Whether a new user must be confirmed before logging in (default false: confirmed at once). " +
              "There is no mail server: the operator confirms users (docs/auth.md).",
          ),
        ),
      ),
      password_min_length: v.optional(
        v.pipe(
          v.number((issue) => `must be a whole number, not ${received(issue)}`),
          v.integer("must be a whole number"),
          v.minValue(1, "must be at least 1"),
          v.maxValue(1024, "must be at most 1024"),
          v.description("Fewest characters of a password (default 6, as Supabase Auth)."),
        ),
      ),
      rate_limit_sign_in: v.optional(perFiveMinutes("Sign-ups and password logins allowed per client address in 5 minutes (default 30); past it: 429.")),
      rate_limit_token_refresh: v.optional(perFiveMinutes("Refresh-token grants allowed per client address in 5 minutes (default 150); past it: 429.")),
    },
    "a mapping of auth settings",
  ),
  v.description("Settings of bkg-db's auth service (/auth/v1): users, passwords and JWTs."),
);

export type AuthConfig = v.InferOutput<typeof AuthSchema>;

/** Key events a webhook can be told of (src/governance/webhooks.ts, docs/governance.md). */
export const WEBHOOK_EVENTS = ["key.issued", "key.rotated", "key.revoked", "key.expiring"] as const;
export type WebhookEventType = (typeof WEBHOOK_EVENTS)[number];
/** Fewest characters of a webhook's signing secret. */
export const MIN_WEBHOOK_SECRET_LENGTH = 16;

const webhookTarget = mapping(
  {
    url: v.pipe(
      string(),
      v.regex(/^https?:\/\/[^\s]+$/, "must be an http:// or https:// URL"),
      v.description("Where events are POSTed as JSON."),
      v.examples(["https://hooks.example.com/cave"]),
    ),
    secret: v.pipe(
      string(),
      v.minLength(
        MIN_WEBHOOK_SECRET_LENGTH,
        `must be at least ${MIN_WEBHOOK_SECRET_LENGTH} characters; make one with: openssl rand -hex 32`,
      ),
      v.description(
        "The HMAC-SHA256 key of the X-Cave-Signature header; the receiver checks signatures with it (cave webhook verify).",
      ),
    ),
    events: v.optional(
      v.pipe(
        v.array(
          v.picklist(
            WEBHOOK_EVENTS,
            (issue) => `invalid event ${received(issue)}: use ${WEBHOOK_EVENTS.join(", ")}`,
          ),
          (issue) => `must be a list of event names, not ${received(issue)}`,
        ),
        v.description("The events this URL is told of; all of them when left out."),
        v.examples([["key.revoked", "key.expiring"]]),
      ),
    ),
  },
  "a mapping with url, secret and optionally events",
);

/** The `webhooks` setting: URLs told of API key events, signed (docs/governance.md). */
export const WebhooksSchema = v.pipe(
  v.array(webhookTarget, (issue) => `must be a list of mappings with url and secret, not ${received(issue)}`),
  v.description("URLs told of API key events (issued, rotated, revoked, expiring) with signed JSON POSTs."),
);

export type WebhooksConfig = v.InferOutput<typeof WebhooksSchema>;

/** The `telemetry` settings: OpenTelemetry export (docs/operations.md); the OTEL_* variables override them. */
export const TelemetrySchema = v.pipe(
  mapping(
    {
      endpoint: v.optional(
        v.pipe(
          string(),
          v.regex(/^https?:\/\/[^\s]+$/, "must be an http:// or https:// URL"),
          v.description(
            "Base URL of an OTLP/HTTP receiver; /v1/traces and /v1/metrics are appended. OTEL_EXPORTER_OTLP_ENDPOINT overrides it.",
          ),
          v.examples(["http://127.0.0.1:4318"]),
        ),
      ),
      traces_endpoint: v.optional(
        v.pipe(
          string(),
          v.regex(/^https?:\/\/[^\s]+$/, "must be an http:// or https:// URL"),
          v.description("Full URL for spans, used as is. OTEL_EXPORTER_OTLP_TRACES_ENDPOINT overrides it."),
        ),
      ),
      metrics_endpoint: v.optional(
        v.pipe(
          string(),
          v.regex(/^https?:\/\/[^\s]+$/, "must be an http:// or https:// URL"),
          v.description("Full URL for metrics, used as is. OTEL_EXPORTER_OTLP_METRICS_ENDPOINT overrides it."),
        ),
      ),
      headers: v.optional(
        v.pipe(
          v.custom<Record<string, unknown>>(isMapping, (issue) => `must be a mapping of header: value, not ${received(issue)}`),
          v.record(string(), string()),
          v.description("Extra HTTP headers on every export (an API key of the collector, say)."),
        ),
      ),
      sampling_rate: v.optional(
        v.pipe(
          v.number((issue) => `must be a number from 0 to 1, not ${received(issue)}`),
          v.minValue(0, "must be from 0 to 1"),
          v.maxValue(1, "must be from 0 to 1"),
          v.description(
            "Share of new traces recorded (a request with a traceparent follows its caller's choice). Default 1. CAVE_OTEL_SAMPLING_RATE overrides it.",
          ),
        ),
      ),
      metrics_interval: v.optional(duration("How often metrics are exported over OTLP. Default 60s.", ["60s", 15])),
    },
    "a mapping of telemetry settings",
  ),
  v.description("OpenTelemetry traces and metrics over OTLP/HTTP (JSON)."),
);

export type TelemetryConfig = v.InferOutput<typeof TelemetrySchema>;

// ── keys and limits: API keys, roles and rate limits of `cave serve` (src/governance/, docs/governance.md) ──

const longDuration = (description: string, examples: (string | number)[]) =>
  v.pipe(
    v.union(
      [v.number(), v.string()],
      (issue) => `must be a duration like 24h or a number of seconds, not ${received(issue)}`,
    ),
    v.rawCheck<string | number>(({ dataset, addIssue }) => {
      const r = dataset.typed ? parseLongDuration(dataset.value, true) : 0;
      if (typeof r === "string") addIssue({ message: r });
    }),
    v.description(description),
    v.examples(examples),
  );

/** The `keys` settings. */
export const KeysConfigSchema = v.pipe(
  mapping(
    {
      rotation_grace: v.optional(
        longDuration("How long a rotated API key stays valid next to its successor: 24h, 30m, 7d, 0 (default 24h).", [
          "24h",
          "1h",
        ]),
      ),
    },
    "a mapping of API key settings",
  ),
  v.description("Settings of `cave keys` and /v1/keys."),
);

const perMinute = (role: string, fallback: number) =>
  v.optional(
    v.pipe(
      v.number((issue) => `must be a whole number of requests per minute, not ${received(issue)}`),
      v.integer("must be a whole number"),
      v.minValue(1, "must be at least 1"),
      v.description(`Requests per minute of one ${role} key (default ${fallback}).`),
    ),
  );

/** The `limits` settings. */
export const LimitsConfigSchema = v.pipe(
  mapping(
    {
      rate: v.optional(
        v.pipe(
          mapping(
            {
              admin: perMinute("admin", 1000),
              namespace: perMinute("namespace", 100),
              session: perMinute("session", 50),
              "model-access": perMinute("model-access", 200),
            },
            "a mapping of role: requests per minute",
          ),
          v.description("Requests per minute of each API key, by its role; past it the API answers 429."),
        ),
      ),
    },
    "a mapping of limit settings",
  ),
  v.description("Limits of `cave serve` per API key."),
);

export type KeysConfig = v.InferOutput<typeof KeysConfigSchema>;
export type LimitsConfig = v.InferOutput<typeof LimitsConfigSchema>;

export const ConfigSchema = v.pipe(
  mapping(
    {
      run: v.optional(RunSchema),
      db: v.optional(DbSchema),
      auth: v.optional(AuthSchema),
      webhooks: v.optional(WebhooksSchema),
      telemetry: v.optional(TelemetrySchema),
      keys: v.optional(KeysConfigSchema),
      limits: v.optional(LimitsConfigSchema),
    },
    "a mapping with run and db sections", // wording pinned by tests/unit/core/config.test.ts
  ),
  v.title("cave.yaml"),
  v.description("Project configuration for cave, read from ./cave.yaml. Every key is optional."),
);

export type CaveConfig = v.InferOutput<typeof ConfigSchema>;
