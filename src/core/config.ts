// Loads cave.yaml and merges defaults < config file < flags into the settings of one run.
// The rules live in schema/config.ts; this file reads the file, points at lines and reports.
import { existsSync, readFileSync } from "../../ffi/fs.ts";
import type * as V from "valibot";
import type * as Schema from "../../schema/config.ts";
import type { Bind, CaveConfig, RlimitName, SeccompProfileName } from "../../schema/config.ts";
import type { Document, LineCounter, Node } from "yaml";
import type { SeccompAction, SeccompProfile } from "./seccomp-profiles.ts";
import type * as Capabilities from "./capabilities.ts";
import { CaveError, isCaveError } from "./errors.ts";
import { RLIMIT_PARSERS, RUN_VALUE_PARSERS } from "./run-values.ts";

export type { Bind, CaveConfig, SeccompProfile, SeccompProfileName };

/** The name a custom profile from cave.yaml carries into seccomp errors. */
export const CUSTOM_SECCOMP_PROFILE_NAME = "cave.yaml run.seccomp";

/** Everything `cave run` needs, resolved to plain numbers and validated. */
export interface RunSettings {
  timeoutMs: number;
  memoryBytes: number;
  cpus: number;
  pids: number;
  diskBytes: number;
  network: "none" | "host";
  hostname: string;
  workdir: string;
  /** Host directory used as the root; absent means the host's own /. */
  rootfs?: string;
  env: Record<string, string>;
  /** Ordered so a destination is mounted before any destination inside it. */
  binds: Bind[];
  rlimits: { nofile: number; nproc?: number; fsize?: number; core: number };
  /** A built-in profile by name, or a custom one from cave.yaml with its base rules first. */
  seccomp: SeccompProfileName | SeccompProfile;
  /** Canonical names (CAP_NET_BIND_SERVICE), in capability-number order, without repeats. */
  capAdd: string[];
}

/** Flag values as citty hands them over: strings, and string lists for repeatable flags. */
export interface RunFlags {
  timeout?: string;
  memory?: string;
  cpus?: string;
  pids?: string;
  disk?: string;
  network?: string;
  hostname?: string;
  workdir?: string;
  rootfs?: string;
  /** "NAME=value", repeatable. */
  env?: string | readonly string[];
  /** "SRC:DST[:ro|rw]", repeatable. */
  bind?: string | readonly string[];
  /** "NAME=VALUE" with NAME one of nofile, nproc, fsize, core; repeatable. */
  rlimit?: string | readonly string[];
  /** default, strict or none. */
  seccomp?: string;
  /** A capability name, with or without CAP_, any case; repeatable. */
  capAdd?: string | readonly string[];
}

export const CONFIG_FILE_NAME = "cave.yaml";

/**
 * Tables of data (capability names, the built-in seccomp profiles) cost ~0.5 ms each to load
 * in the compiled binary; a plain `cave run` needs neither, so they load on first use.
 */
function parseCapabilities(names: readonly string[], code?: string): string[] {
  if (names.length === 0) return [];
  return (require("./capabilities.ts") as typeof Capabilities).parseCapabilities(names, code);
}
function builtinProfiles(): typeof import("./seccomp-profiles.ts").BUILTIN_PROFILES {
  return (require("./seccomp-profiles.ts") as typeof import("./seccomp-profiles.ts")).BUILTIN_PROFILES;
}

/** The YAML parser loads only when there is a file to read: it is most of `cave run`'s start-up otherwise. */
function yaml(): typeof import("yaml") {
  return require("yaml");
}

/**
 * valibot and the schemas (schema/config.ts) load on first use too: a run with defaults only
 * needs neither, and building the schemas is ~1 ms of start-up (measured in a compiled probe).
 */
function v(): typeof V {
  return require("valibot");
}
function schema(): typeof Schema {
  return require("../../schema/config.ts");
}

export const DEFAULTS: Readonly<RunSettings> = Object.freeze({
  timeoutMs: 120_000,
  memoryBytes: 1024 ** 3,
  cpus: 2,
  pids: 1024,
  diskBytes: 1024 ** 3,
  network: "none",
  hostname: "cave",
  workdir: "/",
  env: Object.freeze({}) as Record<string, string>,
  binds: Object.freeze([]) as unknown as Bind[],
  rlimits: Object.freeze({ nofile: 1024, core: 0 }),
  seccomp: "default",
  capAdd: Object.freeze([]) as unknown as string[],
});

/** ./cave.yaml in `cwd` when it exists; there is no search upwards, so what runs is obvious. */
export function findProjectConfig(cwd: string): string | undefined {
  const path = `${cwd.replace(/\/+$/, "")}/${CONFIG_FILE_NAME}`;
  return existsSync(path) ? path : undefined;
}

export function loadConfigFile(path: string): CaveConfig {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") {
      throw new CaveError("CONFIG_NOT_FOUND", `config file ${path} does not exist`, {
        hint: `check the path, or leave it out to use ./${CONFIG_FILE_NAME} of the current directory`,
        cause: e,
      });
    }
    throw new CaveError("CONFIG_UNREADABLE", `cannot read config file ${path}: ${(e as Error).message}`, { cause: e });
  }
  return parseConfigText(text, path);
}

/** Validates YAML text; `name` (usually the path) starts every line of the error message. */
export function parseConfigText(text: string, name: string): CaveConfig {
  const lines = new (yaml().LineCounter)();
  const { parseDocument } = yaml();
  const doc = parseDocument(text, { lineCounter: lines });
  if (doc.errors.length > 0) {
    const message = doc.errors
      .map(
        (e) =>
          `${at(name, e.linePos?.[0])}YAML syntax error: ${e.message.split("\n")[0]?.replace(/ at line \d+, column \d+:?$/, "")}`,
      )
      .join("\n");
    throw new CaveError("CONFIG_INVALID", message, { cause: doc.errors[0] });
  }
  let data: unknown;
  try {
    data = doc.toJS();
  } catch (e) {
    // Only an alias bomb gets here: yaml caps alias expansion and throws.
    throw new CaveError("CONFIG_INVALID", `${name}: ${(e as Error).message}`, { cause: e });
  }
  const result = v().safeParse(schema().ConfigSchema, data ?? {});
  if (!result.success) {
    // In file order, so the message reads top to bottom like the file.
    const described = result.issues.map((issue) => describeIssue(issue, name, doc, lines));
    const message = described
      .sort((a, b) => (a.offset ?? -1) - (b.offset ?? -1))
      .map((d) => d.text)
      .join("\n");
    throw new CaveError("CONFIG_INVALID", message, { cause: new (v().ValiError)(result.issues) });
  }
  return result.output;
}

/** "file:line:col: " like a compiler, so editors and terminals can jump to it. */
function at(name: string, pos: { line: number; col: number } | undefined): string {
  return pos ? `${name}:${pos.line}:${pos.col}: ` : `${name}: `;
}

function describeIssue(
  issue: V.BaseIssue<unknown>,
  name: string,
  doc: Document,
  lines: LineCounter,
): { offset: number | undefined; text: string } {
  const last = issue.path?.[issue.path.length - 1];
  // A missing key has no node of its own: the mapping that lacks it is where to point.
  const missing = last?.type === "object" && last.origin === "key" && issue.input === undefined;
  const path = (missing ? issue.path?.slice(0, -1) : issue.path) ?? [];
  // Unknown keys and bad variable names are about the key, not the value under it.
  const aboutKey = !missing && last?.type === "object" && last.origin === "key";
  const offset = nodeAt(
    doc,
    path.map((item) => item.key as string | number),
    aboutKey,
  )?.range?.[0];
  const key = keyPath(path.map((item) => item.key as string | number));
  const where = at(name, offset === undefined ? undefined : lines.linePos(offset));
  return { offset, text: `${where}${key ? `${key}: ` : ""}${issue.message}` };
}

function nodeAt(doc: Document, keys: (string | number)[], aboutKey: boolean): Node | undefined {
  const { isMap, isSeq } = yaml();
  let node = doc.contents as Node | null | undefined;
  let keyNode: Node | undefined;
  for (const key of keys) {
    if (isMap(node)) {
      const pair = node.items.find(
        (p) => String((p.key as { value?: unknown } | null)?.value ?? p.key) === String(key),
      );
      keyNode = pair?.key as Node | undefined;
      // `key:` with nothing after it has no value node; point at the key instead.
      node = (pair?.value as Node | null | undefined) ?? keyNode;
    } else if (isSeq(node)) {
      node = node.items[key as number] as Node | undefined;
      keyNode = node;
    } else {
      break;
    }
  }
  return (aboutKey ? keyNode : node) ?? undefined;
}

/** run.memory, run.binds[1], run.env["a b"] */
function keyPath(keys: (string | number)[]): string {
  return keys
    .map((k, i) =>
      typeof k === "number" ? `[${k}]` : /^[A-Za-z_][\w-]*$/.test(k) ? `${i ? "." : ""}${k}` : `[${JSON.stringify(k)}]`,
    )
    .join("");
}

/** Prefixes a parser's message with where the value came from (a flag or a config key). */
function within<T>(where: string, fn: () => T): T {
  try {
    return fn();
  } catch (e) {
    if (!isCaveError(e)) throw e;
    throw new CaveError(e.code, `${where}: ${e.message}`, { cause: e });
  }
}

/** Runs one field schema of schema/config.ts on a flag value; its message becomes the error. */
function checked<S extends V.GenericSchema>(fieldSchema: S, value: unknown, code: string): V.InferOutput<S> {
  const result = v().safeParse(fieldSchema, value);
  if (result.success) return result.output;
  throw new CaveError(code, result.issues.map((i) => i.message).join("; "));
}

/** "SRC:DST[:ro|rw]" → a bind; both paths absolute without "..", mode rw unless given. */
export function parseBind(spec: string, code = "USAGE"): Bind {
  const result = schema().splitBind(spec);
  if (typeof result === "string") throw new CaveError(code, result);
  return result;
}

/** "NAME=value" → [NAME, value]; the value may itself contain "=". */
export function parseEnvEntry(entry: string, code = "USAGE"): [string, string] {
  const eq = entry.indexOf("=");
  if (eq < 0) throw new CaveError(code, `invalid environment entry ${JSON.stringify(entry)}: use NAME=value`);
  const name = checked(schema().EnvNameSchema, entry.slice(0, eq), code);
  const value = v().safeParse(schema().EnvValueSchema, entry.slice(eq + 1));
  if (!value.success) {
    throw new CaveError(
      code,
      `invalid environment entry ${JSON.stringify(entry)}: the value ${value.issues[0].message}`,
    );
  }
  return [name, value.output];
}

function parseRlimitEntry(entry: string): [RlimitName, number] {
  const { RLIMIT_PARSERS } = schema();
  const eq = entry.indexOf("=");
  const name = entry.slice(0, eq);
  if (eq < 0 || !Object.hasOwn(RLIMIT_PARSERS, name)) {
    const names = Object.keys(RLIMIT_PARSERS).join(", ");
    throw new CaveError(
      "USAGE",
      `--rlimit: invalid ${JSON.stringify(entry)}: use NAME=VALUE with NAME one of ${names}`,
    );
  }
  const rlimit = name as RlimitName;
  return [rlimit, within(`--rlimit ${rlimit}`, () => RLIMIT_PARSERS[rlimit](entry.slice(eq + 1), "USAGE"))];
}

const list = (x: string | readonly string[] | undefined): readonly string[] =>
  x === undefined ? [] : typeof x === "string" ? [x] : x;

type SeccompSetting = NonNullable<NonNullable<CaveConfig["run"]>["seccomp"]>;

function seccompAction(text: string, where: string): SeccompAction {
  const action = schema().parseSeccompAction(text);
  if (typeof action === "string") throw new CaveError("CONFIG_INVALID", `${where}: ${action}`);
  return action;
}

/** run.seccomp as written → a profile name, or a custom profile with the base's rules first. */
function seccompFromFile(setting: SeccompSetting): RunSettings["seccomp"] {
  if (typeof setting === "string")
    return within("run.seccomp", () => checked(schema().SeccompNameSchema, setting, "CONFIG_INVALID"));
  const base = setting.base === undefined ? undefined : builtinProfiles()[setting.base];
  const defaultAction =
    setting.default !== undefined ? seccompAction(setting.default, "run.seccomp.default") : base?.defaultAction;
  if (defaultAction === undefined) {
    throw new CaveError("CONFIG_INVALID", "run.seccomp: needs default (the action for syscalls no rule names) or base");
  }
  const rules = (setting.syscalls ?? []).map((rule, i) => ({
    names: [...rule.names],
    action: seccompAction(rule.action, `run.seccomp.syscalls[${i}].action`),
  }));
  return { name: CUSTOM_SECCOMP_PROFILE_NAME, defaultAction, rules: [...(base?.rules ?? []), ...rules] };
}

/**
 * Flags beat the config file, which beats DEFAULTS. `file` must come from loadConfigFile (or
 * parseConfigText), which validated it; flag errors are USAGE, config file errors CONFIG_INVALID.
 */
export function resolveRunSettings(layers: { file?: CaveConfig["run"]; flags?: RunFlags } = {}): RunSettings {
  const file = layers.file ?? {};
  const flags = layers.flags ?? {};

  const unit = (key: keyof typeof RUN_VALUE_PARSERS, fallback: number): number => {
    const flag = flags[key];
    if (flag !== undefined) return within(`--${key}`, () => RUN_VALUE_PARSERS[key](flag, "USAGE"));
    const value = file[key];
    if (value !== undefined) return within(`run.${key}`, () => RUN_VALUE_PARSERS[key](value, "CONFIG_INVALID"));
    return fallback;
  };
  const text = <K extends "network" | "hostname" | "workdir" | "rootfs">(key: K) => {
    const flag = flags[key];
    // The common values skip valibot (~1.5 ms to load); anything else gets the schema's check and message.
    if (key === "network" && (flag === "none" || flag === "host")) return flag as RunSettings["network"];
    return flag !== undefined ? within(`--${key}`, () => checked(schema().RunFields[key], flag, "USAGE")) : file[key];
  };

  const env: Record<string, string> = { ...file.env };
  for (const entry of list(flags.env)) {
    const [name, value] = within("--env", () => parseEnvEntry(entry));
    env[name] = value;
  }

  // A flag bind replaces a config file bind with the same destination.
  const binds = new Map<string, Bind>();
  for (const spec of file.binds ?? []) {
    const bind = within("run.binds", () => parseBind(spec, "CONFIG_INVALID"));
    binds.set(bind.dst, bind);
  }
  const flagDsts = new Set<string>();
  for (const spec of list(flags.bind)) {
    const bind = within("--bind", () => parseBind(spec));
    if (flagDsts.has(bind.dst)) {
      throw new CaveError("USAGE", `--bind: destination ${JSON.stringify(bind.dst)} is bound more than once`);
    }
    flagDsts.add(bind.dst);
    binds.set(bind.dst, bind);
  }
  // A mount on /a after one on /a/b would hide /a/b; fewer components go first (stable sort).
  const depth = (b: Bind) => b.dst.split("/").length;
  const orderedBinds = [...binds.values()].sort((a, b) => depth(a) - depth(b));

  const rlimits: RunSettings["rlimits"] = { ...DEFAULTS.rlimits };
  if (file.rlimits) {
    for (const name of Object.keys(RLIMIT_PARSERS) as RlimitName[]) {
      const value = file.rlimits[name];
      if (value !== undefined)
        rlimits[name] = within(`run.rlimits.${name}`, () => RLIMIT_PARSERS[name](value, "CONFIG_INVALID"));
    }
  }
  for (const entry of list(flags.rlimit)) {
    const [name, value] = parseRlimitEntry(entry);
    rlimits[name] = value;
  }

  const seccomp =
    flags.seccomp !== undefined
      ? flags.seccomp === "default" || flags.seccomp === "strict" || flags.seccomp === "none"
        ? flags.seccomp
        : within("--seccomp", () => checked(schema().SeccompNameSchema, flags.seccomp, "USAGE"))
      : file.seccomp !== undefined
        ? seccompFromFile(file.seccomp)
        : DEFAULTS.seccomp;

  // The flag adds to the file's list: both name capabilities to keep.
  const capAdd = [
    ...within("run.cap_add", () => parseCapabilities(file.cap_add ?? [], "CONFIG_INVALID")),
    ...within("--cap-add", () => parseCapabilities(list(flags.capAdd))),
  ];
  const capAddList = capAdd.length ? parseCapabilities(capAdd) : [];

  const rootfs = text("rootfs");
  return {
    timeoutMs: unit("timeout", DEFAULTS.timeoutMs),
    memoryBytes: unit("memory", DEFAULTS.memoryBytes),
    cpus: unit("cpus", DEFAULTS.cpus),
    pids: unit("pids", DEFAULTS.pids),
    diskBytes: unit("disk", DEFAULTS.diskBytes),
    network: text("network") ?? DEFAULTS.network,
    hostname: text("hostname") ?? DEFAULTS.hostname,
    workdir: text("workdir") ?? DEFAULTS.workdir,
    ...(rootfs !== undefined ? { rootfs } : {}),
    env,
    binds: orderedBinds,
    rlimits,
    seccomp,
    capAdd: capAddList,
  };
}
