// Turns a seccomp profile (built-in name or one from the config) into the BPF program the
// helper loads before execve. Every syscall name is checked against libseccomp first: a name
// it does not know is a config error, never a rule quietly left out of the filter.
import { CaveError } from "../../core/errors.ts";
import { BPF_INSN_SIZE, libseccompVersion, nativeArch, resolveSyscall, SCMP_ACT, SCMP_ARCH, SCMP_CMP, SCMP_FLTATR, SeccompFilter, type ArgCmp } from "../../../ffi/seccomp.ts";
import { cacheDirs, cachedProgram } from "./cache.ts";
import type { ArgCheck, ArgOp, SeccompAction, SeccompProfile, SeccompRule } from "../../core/seccomp-profiles.ts";
import type * as Profiles from "../../core/seccomp-profiles.ts";

/** The profile tables load only on a cache miss: as data they cost ~0.6 ms of start-up. */
const profiles = (): typeof Profiles => require("../../core/seccomp-profiles.ts");

export type { ArgCheck, ArgOp, SeccompAction, SeccompProfile, SeccompRule } from "../../core/seccomp-profiles.ts";

/** Names `--seccomp` and `run.seccomp` accept; `none` loads no filter at all. */
export const seccompProfileNames = ["default", "strict", "none"] as const;
export type SeccompProfileName = (typeof seccompProfileNames)[number];

export function isSeccompProfileName(name: string): name is SeccompProfileName {
  return (seccompProfileNames as readonly string[]).includes(name);
}

/** The kernel's largest errno; seccomp would pass bigger values, but libc reads them as success. */
const MAX_ERRNO = 4095;
/** BPF_MAXINSNS: the kernel refuses longer classic BPF programs. */
const MAX_INSNS = 4096;
/** SCMP_FLTATR_CTL_OPTIMIZE = 2: a binary search over syscall numbers, not a linear scan. */
const OPTIMIZE_BINARY_TREE = 2;

const OPS: Record<ArgOp, number> = {
  eq: SCMP_CMP.EQ,
  ne: SCMP_CMP.NE,
  lt: SCMP_CMP.LT,
  le: SCMP_CMP.LE,
  gt: SCMP_CMP.GT,
  ge: SCMP_CMP.GE,
  masked_eq: SCMP_CMP.MASKED_EQ,
};

interface Resolved {
  name: string;
  nr: number;
  action: number;
  args: ArgCmp[];
}

function invalid(profile: string, what: string, hint: string): CaveError {
  return new CaveError("CONFIG_INVALID", `seccomp profile "${profile}": ${what}`, { hint });
}

function actionCode(profile: string, a: SeccompAction, where: string): number {
  switch (a.kind) {
    case "allow":
      return SCMP_ACT.ALLOW;
    case "kill":
      // The whole process: killing one thread would leave the rest running in a torn state.
      return SCMP_ACT.KILL_PROCESS;
    case "log":
      return SCMP_ACT.LOG;
    case "errno":
      if (!Number.isInteger(a.errno) || a.errno < 1 || a.errno > MAX_ERRNO) {
        throw invalid(profile, `${where} has errno ${a.errno}, which is not an errno`, `use a number from 1 to ${MAX_ERRNO}, e.g. 1 (EPERM) or 38 (ENOSYS)`);
      }
      return SCMP_ACT.errno(a.errno);
    default: {
      const never: never = a;
      throw invalid(profile, `${where} has an unknown action ${JSON.stringify(never)}`, "use errno N, kill, log or allow");
    }
  }
}

function describe(a: SeccompAction): string {
  return a.kind === "errno" ? `errno ${a.errno}` : a.kind;
}

function argCmps(profile: string, rule: SeccompRule, where: string): ArgCmp[] {
  const seen = new Set<number>();
  return (rule.args ?? []).map((c: ArgCheck) => {
    if (!Number.isInteger(c.index) || c.index < 0 || c.index > 5) {
      throw invalid(profile, `${where} checks argument ${c.index}`, "arguments are numbered 0 to 5");
    }
    if (seen.has(c.index)) {
      // libseccomp ANDs the checks of one rule but takes one per argument (EINVAL otherwise).
      throw invalid(profile, `${where} checks argument ${c.index} twice`, "split it into one rule per check; rules on the same syscall are ORed");
    }
    seen.add(c.index);
    const op = OPS[c.op];
    if (op === undefined) throw invalid(profile, `${where} uses unknown comparison ${JSON.stringify(c.op)}`, `use one of ${Object.keys(OPS).join(", ")}`);
    const num = (v: number, what: string): bigint => {
      if (!Number.isSafeInteger(v) || v < 0) throw invalid(profile, `${where} has ${what} ${v} for argument ${c.index}`, "use a whole number from 0 to 2^53-1");
      return BigInt(v);
    };
    if (c.op === "masked_eq") {
      if (c.mask === undefined) throw invalid(profile, `${where} uses masked_eq on argument ${c.index} without a mask`, "give mask and value: (arg & mask) == value");
      return { arg: c.index, op, a: num(c.mask, "mask"), b: num(c.value, "value") };
    }
    if (c.mask !== undefined) throw invalid(profile, `${where} gives a mask to ${c.op} on argument ${c.index}`, "only masked_eq takes a mask");
    return { arg: c.index, op, a: num(c.value, "value"), b: 0n };
  });
}

/** Looks a syscall name up: its number on the native arch, or null when it is not a syscall. */
export type SyscallResolver = (name: string) => number | null;

/**
 * The number of syscall `name`: libseccomp's answer, or, when this libseccomp does not know the
 * name, the number SYSCALL_NUMBER_FALLBACKS lists for `arch` (fchmodat2 only). null otherwise.
 * `resolve` and `arch` are parameters so that the tests can play an older libseccomp.
 */
export function syscallNumber(name: string, resolve: SyscallResolver = resolveSyscall, arch?: number): number | null {
  const nr = resolve(name);
  if (nr !== null || !Object.hasOwn(profiles().SYSCALL_NUMBER_FALLBACKS, name)) return nr;
  const on = arch ?? nativeArch();
  const archName = on === SCMP_ARCH.X86_64 ? "x86_64" : on === SCMP_ARCH.AARCH64 ? "aarch64" : undefined;
  return (archName && profiles().SYSCALL_NUMBER_FALLBACKS[name]?.[archName]) ?? null;
}

/**
 * Checks a profile and resolves its names to syscall numbers (through `resolve`, syscallNumber
 * unless a test says otherwise), without building anything.
 * Throws CONFIG_INVALID naming the profile and what is wrong.
 */
export function resolveProfile(profile: SeccompProfile, resolve: SyscallResolver = syscallNumber): { defaultAction: number; rules: Resolved[] } {
  const p = profile.name;
  const defaultAction = actionCode(p, profile.defaultAction, "the default action");
  const rules: Resolved[] = [];
  // Per syscall: the action of its unconditional rule, and those of its conditional ones.
  const plain = new Map<string, string>();
  const conditional = new Map<string, Set<string>>();
  profile.rules.forEach((rule, i) => {
    const where = `rule ${i + 1} (${rule.names.join(", ") || "no syscalls"})`;
    if (rule.names.length === 0) throw invalid(p, `${where} names no syscalls`, "list at least one syscall name");
    const action = actionCode(p, rule.action, where);
    const act = describe(rule.action);
    if (action === defaultAction) {
      // libseccomp refuses such rules (EACCES): they could never change an outcome.
      throw invalid(p, `${where} has the same action as the default (${act}), so it does nothing`, "remove the rule or change its action");
    }
    const args = argCmps(p, rule, where);
    for (const name of rule.names) {
      const nr = resolve(name);
      if (nr === null) {
        throw invalid(p, `unknown syscall "${name}"`, `use the kernel's name as in \`man 2 syscalls\` (e.g. openat); libseccomp ${libseccompVersion()} does not know "${name}"`);
      }
      const whole = plain.get(name);
      const parts = conditional.get(name) ?? new Set<string>();
      if (!args.length && whole !== undefined && whole !== act) {
        throw invalid(p, `${name} is given two actions, ${whole} and ${act}`, "keep one rule without argument checks per syscall");
      }
      const other = args.length ? (whole !== undefined && whole !== act ? whole : undefined) : [...parts].find((x) => x !== act);
      if (other !== undefined) {
        // Measured with libseccomp 2.5.4: the unconditional rule silently wins and the
        // argument checks vanish from the filter. Refuse rather than weaken the profile.
        const [u, c] = args.length ? [other, act] : [act, other];
        throw invalid(
          p,
          `${name} has a rule without argument checks (${u}) and one with them (${c}); libseccomp would drop the argument checks`,
          "replace the rule without checks by a catch-all such as { index: 1, op: ge, value: 0 } on the argument the other rule tests",
        );
      }
      if (args.length) conditional.set(name, parts.add(act));
      else plain.set(name, act);
      rules.push({ name, nr, action, args });
    }
  });
  return { defaultAction, rules };
}

/** Compiles a profile to a BPF program (struct sock_filter[]) for the native architecture. */
export function compileProfile(profile: SeccompProfile, resolve: SyscallResolver = syscallNumber): Uint8Array {
  const { defaultAction, rules } = resolveProfile(profile, resolve);
  const filter = SeccompFilter.create(defaultAction);
  try {
    // The helper sets no_new_privs itself, before loading the program.
    filter.setAttr(SCMP_FLTATR.CTL_NNP, 0);
    // Only the native arch is in the filter, so i386 (int 0x80) and x32 syscalls, whose
    // numbers mean other calls, end here: the whole process is killed with SIGSYS.
    filter.setAttr(SCMP_FLTATR.ACT_BADARCH, SCMP_ACT.KILL_PROCESS);
    filter.setAttr(SCMP_FLTATR.CTL_OPTIMIZE, OPTIMIZE_BINARY_TREE);
    // Fail closed if this libseccomp put a compat arch in the filter on its own: its
    // syscall numbers would then be let through instead of killed.
    for (const compat of [SCMP_ARCH.X86, SCMP_ARCH.X32, SCMP_ARCH.ARM]) {
      if (compat !== nativeArch() && filter.hasArch(compat)) {
        throw new CaveError("SANDBOX_SECCOMP", `libseccomp put arch 0x${compat.toString(16)} into a new filter by itself`, {
          hint: "cave's filters hold only the native arch; run with --seccomp none to go without one",
        });
      }
    }
    for (const r of rules) filter.addRule(r.action, r.nr, r.args, `${r.name} in seccomp profile "${profile.name}"`);
    const bpf = filter.exportBpf();
    if (bpf.byteLength / BPF_INSN_SIZE > MAX_INSNS) {
      throw new CaveError("CONFIG_INVALID", `seccomp profile "${profile.name}" compiles to ${bpf.byteLength / BPF_INSN_SIZE} BPF instructions; the kernel takes at most ${MAX_INSNS}`, {
        hint: "use fewer argument checks, or merge rules that share an action",
      });
    }
    return bpf;
  } finally {
    filter.release();
  }
}

const cache = new Map<string, Uint8Array | null>();

/**
 * The filter for a built-in profile name or a profile object; null for `none`. Compiled once
 * per process and shared: callers must not modify the returned bytes.
 */
export function buildSeccompFilter(profile: string | SeccompProfile): Uint8Array | null {
  const key = typeof profile === "string" ? `builtin:${profile}` : `custom:${JSON.stringify(profile)}`;
  const hit = cache.get(key);
  if (hit !== undefined) return hit;
  let bpf: Uint8Array | null;
  if (typeof profile !== "string") {
    bpf = compileCached(JSON.stringify(profile), () => profile);
  } else if (profile === "none") {
    bpf = null;
  } else if (profile === "default" || profile === "strict") {
    // A built-in is part of the binary, so the binary's identity (in the cache key) covers it.
    const name = profile;
    bpf = compileCached(`builtin:${name}`, () => profiles().BUILTIN_PROFILES[name]);
  } else {
    throw new CaveError("CONFIG_INVALID", `unknown seccomp profile "${profile}"`, {
      hint: `use one of ${seccompProfileNames.join(", ")}`,
    });
  }
  cache.set(key, bpf);
  return bpf;
}

/** compileProfile through the disk cache (./cache.ts), in the compiled binary only. */
function compileCached(keyText: string, profile: () => SeccompProfile): Uint8Array {
  return cachedProgram(
    keyText,
    () => {
      // From source (bun test, bun run) the executable is bun, which says nothing of this code.
      if (!Bun.main.startsWith("/$bunfs/")) return undefined;
      return { dirs: cacheDirs(), libseccomp: libseccompVersion() };
    },
    () => compileProfile(profile()),
  );
}
