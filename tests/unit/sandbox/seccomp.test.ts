// Seccomp profiles: validation of custom profiles, and what the compiled BPF answers for given
// syscalls, read by a small classic-BPF interpreter here (the kernel runs it in the integration suite).
import { describe, expect, test } from "bun:test";
import { nativeArch, resolveSyscall, SCMP_ACT, SCMP_ARCH } from "../../../ffi/seccomp.ts";
import { isCaveError } from "../../../src/core/errors.ts";
import { buildSeccompFilter, compileProfile, seccompProfileNames, syscallNumber, type SeccompProfile } from "../../../src/sandbox/seccomp/index.ts";
import { AF, CLONE_NEW, DEFAULT_PROFILE, MODE_ARGUMENT, STRICT_PROFILE, TIOCLINUX, TIOCSTI } from "../../../src/core/seccomp-profiles.ts";

interface Insn {
  code: number;
  jt: number;
  jf: number;
  k: number;
}

function decode(bpf: Uint8Array): Insn[] {
  const v = new DataView(bpf.buffer, bpf.byteOffset, bpf.byteLength);
  const out: Insn[] = [];
  for (let o = 0; o < bpf.byteLength; o += 8) {
    out.push({ code: v.getUint16(o, true), jt: v.getUint8(o + 2), jf: v.getUint8(o + 3), k: v.getUint32(o + 4, true) });
  }
  return out;
}

/** struct seccomp_data: nr, arch, instruction_pointer, args[6]; little-endian. */
function seccompData(arch: number, nr: number, args: readonly bigint[]): DataView {
  const v = new DataView(new ArrayBuffer(64));
  v.setUint32(0, nr >>> 0, true);
  v.setUint32(4, arch >>> 0, true);
  args.forEach((a, i) => {
    v.setBigUint64(16 + 8 * i, BigInt.asUintN(64, a), true);
  });
  return v;
}

/** Runs a classic BPF seccomp program; unknown opcodes throw so a change in libseccomp's output shows. */
function evaluate(bpf: Uint8Array, arch: number, nr: number, args: readonly bigint[] = []): number {
  const prog = decode(bpf);
  const data = seccompData(arch, nr, args);
  const mem = new Uint32Array(16);
  let a = 0;
  let x = 0;
  for (let pc = 0; pc < prog.length; pc++) {
    const { code, jt, jf, k } = prog[pc] as Insn;
    switch (code) {
      case 0x20: a = data.getUint32(k, true); break; // ld [k]
      case 0x00: a = k; break; // ld #k
      case 0x01: x = k; break; // ldx #k
      case 0x60: a = mem[k] as number; break; // ld M[k]
      case 0x61: x = mem[k] as number; break; // ldx M[k]
      case 0x02: mem[k] = a; break; // st M[k]
      case 0x03: mem[k] = x; break; // stx M[k]
      case 0x54: a = (a & k) >>> 0; break; // and #k
      case 0x87: a = x; break; // txa
      case 0x07: x = a; break; // tax
      case 0x05: pc += k; break; // ja
      case 0x15: pc += a === k ? jt : jf; break; // jeq #k
      case 0x25: pc += a > k ? jt : jf; break; // jgt #k
      case 0x35: pc += a >= k ? jt : jf; break; // jge #k
      case 0x45: pc += (a & k) !== 0 ? jt : jf; break; // jset #k
      case 0x06: return k; // ret #k
      default: throw new Error(`unhandled BPF opcode 0x${code.toString(16)} at ${pc}`);
    }
  }
  throw new Error("the program ran off its end");
}

const ARCH = nativeArch();
const nr = (name: string): number => {
  const n = syscallNumber(name);
  if (n === null || n < 0) throw new Error(`${name} is not a syscall on this arch`);
  return n;
};
const EPERM = SCMP_ACT.errno(1);
const ENOSYS = SCMP_ACT.errno(38);
const EAFNOSUPPORT = SCMP_ACT.errno(97);
const SIGCHLD = 17n;
/** The flags glibc's pthread_create passes to clone. */
const THREAD_FLAGS = 0x3d0f00n;
const TCGETS = 0x5401n;
const HIGH = 1n << 32n;

/** The syscalls that take a file mode (chmod, open, mknod, …) with their mode argument's index. */
const MODE_SYSCALLS = Object.entries(MODE_ARGUMENT);
/** Setuid, setgid or both, also with bits above the 32 the kernel reads: each must be refused. */
const SETID_MODES = [0o4755n, 0o2755n, 0o6755n, 0o4000n, 0o2000n, HIGH | 0o4755n, HIGH | 0o2755n, 0o104755n /* S_IFREG|04755, as mknod takes it */];
/** Modes without either bit, the sticky bit and S_IFREG included: each must pass. */
const PLAIN_MODES = [0n, 0o644n, 0o755n, 0o777n, 0o1777n, 0o100644n, HIGH | 0o755n, 0xffffffffn ^ 0o6000n];

/**
 * What `run` answers for each mode syscall with each mode in `modes`, as "name mode → answer"
 * rows; the other arguments are zero.
 */
function modeAnswers(run: (name: string, ...args: bigint[]) => number, modes: readonly bigint[]): string[] {
  return MODE_SYSCALLS.flatMap(([name, index]) =>
    modes.map((mode) => {
      const args = Array.from({ length: 6 }, (_, i) => (i === index ? mode : 0n));
      return `${name}(arg${index}=0o${mode.toString(8)}) → ${run(name, ...args).toString(16)}`;
    }),
  );
}
const expectAll = (modes: readonly bigint[], answer: number): string[] =>
  MODE_SYSCALLS.flatMap(([name, index]) => modes.map((mode) => `${name}(arg${index}=0o${mode.toString(8)}) → ${answer.toString(16)}`));

function caveErrorOf(fn: () => unknown): { code: string; message: string; hint?: string } {
  try {
    fn();
  } catch (e) {
    if (isCaveError(e)) return { code: e.code, message: e.message, ...(e.hint ? { hint: e.hint } : {}) };
    throw e;
  }
  throw new Error("expected a CaveError");
}

const mine = (p: Partial<SeccompProfile>): SeccompProfile => ({ name: "mine", defaultAction: { kind: "allow" }, rules: [], ...p });

describe("built-in profiles", () => {
  test("the profile names are default, strict and none", () => {
    expect([...seccompProfileNames]).toEqual(["default", "strict", "none"]);
  });

  test("none compiles to no filter at all", () => {
    expect(buildSeccompFilter("none")).toBeNull();
  });

  test.each(["default", "strict"])("%s compiles to whole BPF instructions within the kernel's 4096 limit", (name) => {
    const bpf = buildSeccompFilter(name) as Uint8Array;
    expect(bpf).toBeInstanceOf(Uint8Array);
    expect(bpf.byteLength % 8).toBe(0);
    expect(bpf.byteLength / 8).toBeGreaterThan(10);
    expect(bpf.byteLength / 8).toBeLessThanOrEqual(4096);
  });

  test("a profile is compiled once per process and the same bytes are handed out again", () => {
    expect(buildSeccompFilter("strict")).toBe(buildSeccompFilter("strict") as Uint8Array);
  });

  test.each(["default", "strict"])("%s first loads the arch and compares it with the native one", (name) => {
    const [ld, jeq] = decode(buildSeccompFilter(name) as Uint8Array);
    expect(ld).toEqual({ code: 0x20, jt: 0, jf: 0, k: 4 });
    expect(jeq?.code).toBe(0x15);
    expect(jeq?.k).toBe(ARCH);
  });

  test.each(["default", "strict"])("%s kills the whole process for a syscall made through a 32-bit ABI (i386, arm)", (name) => {
    const bpf = buildSeccompFilter(name) as Uint8Array;
    // i386 getpid is 20; x86_64's 20 is writev, which both profiles allow natively.
    expect([evaluate(bpf, SCMP_ARCH.X86, 20), evaluate(bpf, SCMP_ARCH.ARM, 20)]).toEqual([SCMP_ACT.KILL_PROCESS, SCMP_ACT.KILL_PROCESS]);
  });

  test.skipIf(ARCH !== SCMP_ARCH.X86_64)("on x86_64 both profiles kill x32 syscall numbers (nr | 0x40000000), which share the native arch value", () => {
    for (const name of ["default", "strict"]) {
      const bpf = buildSeccompFilter(name) as Uint8Array;
      expect(evaluate(bpf, SCMP_ARCH.X86_64, 0x40000000 | nr("getpid"))).toBe(SCMP_ACT.KILL_PROCESS);
      expect(evaluate(bpf, SCMP_ARCH.X86_64, 0x40000000 | nr("unshare"))).toBe(SCMP_ACT.KILL_PROCESS);
      expect(evaluate(bpf, SCMP_ARCH.X86_64, nr("getpid"))).toBe(SCMP_ACT.ALLOW);
    }
  });
});

describe("what the default profile answers", () => {
  const bpf = buildSeccompFilter("default") as Uint8Array;
  const run = (name: string, ...args: bigint[]) => evaluate(bpf, ARCH, nr(name), args);

  test("ordinary syscalls are allowed", () => {
    expect([run("read"), run("openat"), run("execve"), run("sethostname")]).toEqual([SCMP_ACT.ALLOW, SCMP_ACT.ALLOW, SCMP_ACT.ALLOW, SCMP_ACT.ALLOW]);
  });

  test("every escape-class syscall without argument checks fails with EPERM", () => {
    const names = DEFAULT_PROFILE.rules.filter((r) => !r.args && r.action.kind === "errno" && r.action.errno === 1).flatMap((r) => r.names);
    const available = names.filter((n) => (resolveSyscall(n) ?? -1) >= 0);
    expect(available.length).toBeGreaterThan(40);
    expect(available.map((n) => [n, run(n)])).toEqual(available.map((n) => [n, EPERM]));
  });

  test("clone3 fails with ENOSYS so that libc falls back to clone", () => {
    expect(run("clone3")).toBe(ENOSYS);
  });

  test("clone with any CLONE_NEW* flag fails with EPERM, and fork and thread flags pass", () => {
    for (const flag of Object.values(CLONE_NEW)) expect(run("clone", BigInt(flag) | SIGCHLD)).toBe(EPERM);
    expect(run("clone", SIGCHLD)).toBe(SCMP_ACT.ALLOW);
    expect(run("clone", THREAD_FLAGS)).toBe(SCMP_ACT.ALLOW);
  });

  test("ioctl TIOCSTI and TIOCLINUX fail with EPERM even with high bits set, and other requests pass", () => {
    expect(run("ioctl", 0n, BigInt(TIOCSTI))).toBe(EPERM);
    expect(run("ioctl", 0n, HIGH | BigInt(TIOCSTI))).toBe(EPERM);
    expect(run("ioctl", 0n, BigInt(TIOCLINUX))).toBe(EPERM);
    expect(run("ioctl", 0n, TCGETS)).toBe(SCMP_ACT.ALLOW);
  });

  test("socket(AF_VSOCK) fails with EAFNOSUPPORT even with high bits set, and AF_INET passes", () => {
    expect(run("socket", BigInt(AF.VSOCK))).toBe(EAFNOSUPPORT);
    expect(run("socket", HIGH | BigInt(AF.VSOCK))).toBe(EAFNOSUPPORT);
    expect(run("socket", BigInt(AF.INET))).toBe(SCMP_ACT.ALLOW);
  });

  test("personality allows only PER_LINUX and the 0xffffffff query", () => {
    expect(run("personality", 0n)).toBe(SCMP_ACT.ALLOW);
    expect(run("personality", 0xffffffffn)).toBe(SCMP_ACT.ALLOW);
    // Every one-bit value and every all-but-one-bit value: the shapes the 32 rules must cover.
    const values = Array.from({ length: 32 }, (_, i) => [1n << BigInt(i), 0xffffffffn ^ (1n << BigInt(i))]).flat();
    expect(values.filter((v) => run("personality", v) !== EPERM)).toEqual([]);
    expect(run("personality", 0x0040000n)).toBe(EPERM); // ADDR_NO_RANDOMIZE
    expect(run("personality", HIGH | 0x0040000n)).toBe(EPERM);
  });

  test("chmod, fchmod, fchmodat, fchmodat2, open, openat, creat, mknod and mknodat fail with EPERM for a mode with S_ISUID or S_ISGID, high bits or not", () => {
    expect(modeAnswers(run, SETID_MODES)).toEqual(expectAll(SETID_MODES, EPERM));
  });

  test("the same syscalls pass for modes without those bits (the sticky bit and file types included), and mkdir with setgid passes", () => {
    expect(modeAnswers(run, PLAIN_MODES)).toEqual(expectAll(PLAIN_MODES, SCMP_ACT.ALLOW));
    expect([run("mkdir", 0n, 0o2775n), run("mkdirat", 0n, 0n, 0o2775n)]).toEqual([SCMP_ACT.ALLOW, SCMP_ACT.ALLOW]);
  });

  test("openat2, whose mode sits in memory where the filter cannot read it, fails with ENOSYS so that libc falls back to openat", () => {
    expect(run("openat2")).toBe(ENOSYS);
  });
});

describe("what the strict profile answers", () => {
  const bpf = buildSeccompFilter("strict") as Uint8Array;
  const run = (name: string, ...args: bigint[]) => evaluate(bpf, ARCH, nr(name), args);

  test("listed syscalls are allowed and unlisted ones fail with ENOSYS", () => {
    expect([run("read"), run("openat"), run("execve"), run("futex")]).toEqual([SCMP_ACT.ALLOW, SCMP_ACT.ALLOW, SCMP_ACT.ALLOW, SCMP_ACT.ALLOW]);
    expect([run("fanotify_init"), run("clone3"), run("process_madvise"), run("landlock_create_ruleset")]).toEqual([ENOSYS, ENOSYS, ENOSYS, ENOSYS]);
  });

  test("the escape classes fail with the same errno as under default", () => {
    expect([run("unshare"), run("mount"), run("keyctl"), run("bpf"), run("io_uring_setup"), run("ptrace")]).toEqual([EPERM, EPERM, EPERM, EPERM, EPERM, EPERM]);
    expect(run("clone", BigInt(CLONE_NEW.NEWUSER) | SIGCHLD)).toBe(EPERM);
    expect(run("ioctl", 0n, HIGH | BigInt(TIOCSTI))).toBe(EPERM);
    expect(run("socket", BigInt(AF.VSOCK))).toBe(EAFNOSUPPORT);
    expect(run("personality", 8n)).toBe(EPERM);
  });

  test("clone for fork and threads, ioctl TCGETS and PER_LINUX pass", () => {
    expect([run("clone", SIGCHLD), run("clone", THREAD_FLAGS), run("ioctl", 1n, TCGETS), run("personality", 0n), run("personality", 0xffffffffn)]).toEqual([
      SCMP_ACT.ALLOW, SCMP_ACT.ALLOW, SCMP_ACT.ALLOW, SCMP_ACT.ALLOW, SCMP_ACT.ALLOW,
    ]);
  });

  test("sockets open only in the unix, inet, inet6 and netlink families", () => {
    const families = [AF.UNIX, AF.INET, AF.INET6, AF.NETLINK, 17 /* AF_PACKET */, 38 /* AF_ALG */, AF.VSOCK];
    expect(families.map((f) => run("socket", BigInt(f)))).toEqual([
      SCMP_ACT.ALLOW, SCMP_ACT.ALLOW, SCMP_ACT.ALLOW, SCMP_ACT.ALLOW, EAFNOSUPPORT, EAFNOSUPPORT, EAFNOSUPPORT,
    ]);
    expect(run("socketpair", BigInt(AF.UNIX))).toBe(SCMP_ACT.ALLOW);
    expect(run("socketpair", HIGH | BigInt(AF.UNIX))).toBe(SCMP_ACT.ALLOW);
  });

  test("the mode syscalls fail with EPERM for S_ISUID or S_ISGID, high bits or not, and pass otherwise (the catch-alls do not swallow the denials)", () => {
    expect(modeAnswers(run, SETID_MODES)).toEqual(expectAll(SETID_MODES, EPERM));
    expect(modeAnswers(run, PLAIN_MODES)).toEqual(expectAll(PLAIN_MODES, SCMP_ACT.ALLOW));
    expect([run("mkdir", 0n, 0o2775n), run("mkdirat", 0n, 0n, 0o2775n)]).toEqual([SCMP_ACT.ALLOW, SCMP_ACT.ALLOW]);
  });

  test("openat2 fails with ENOSYS, as under default", () => {
    expect(run("openat2")).toBe(ENOSYS);
  });

  test("nothing that default denies outright is on strict's allow-list", () => {
    const denied = DEFAULT_PROFILE.rules.filter((r) => !r.args).flatMap((r) => r.names);
    const allowedByStrict = STRICT_PROFILE.rules.filter((r) => !r.args && r.action.kind === "allow").flatMap((r) => r.names);
    expect(allowedByStrict.filter((n) => denied.includes(n))).toEqual([]);
  });
});

describe("custom profiles", () => {
  test("a custom profile compiles and answers with its own actions", () => {
    const bpf = compileProfile(
      mine({
        rules: [
          { names: ["mkdir", "mkdirat"], action: { kind: "errno", errno: 13 } },
          { names: ["reboot"], action: { kind: "kill" } },
          { names: ["fchmod"], action: { kind: "log" } },
          { names: ["kill"], action: { kind: "errno", errno: 1 }, args: [{ index: 1, op: "eq", value: 9 }] },
        ],
      }),
    );
    const at = (name: string, ...args: bigint[]) => evaluate(bpf, ARCH, nr(name), args);
    expect([at("mkdirat"), at("reboot"), at("fchmod"), at("kill", 1n, 9n), at("kill", 1n, 15n), at("read")]).toEqual([
      SCMP_ACT.errno(13), SCMP_ACT.KILL_PROCESS, SCMP_ACT.LOG, EPERM, SCMP_ACT.ALLOW, SCMP_ACT.ALLOW,
    ]);
  });

  test("an unknown syscall name is a config error naming the syscall and the profile", () => {
    const err = caveErrorOf(() => compileProfile(mine({ rules: [{ names: ["read", "opne"], action: { kind: "errno", errno: 1 } }] })));
    expect(err.code).toBe("CONFIG_INVALID");
    expect(err.message).toBe('seccomp profile "mine": unknown syscall "opne"');
    expect(err.hint).toStartWith("use the kernel's name as in `man 2 syscalls` (e.g. openat); libseccomp ");
  });

  test("an errno outside 1..4095 is a config error", () => {
    const err = caveErrorOf(() => compileProfile(mine({ rules: [{ names: ["read"], action: { kind: "errno", errno: 0 } }] })));
    expect(err).toEqual({
      code: "CONFIG_INVALID",
      message: 'seccomp profile "mine": rule 1 (read) has errno 0, which is not an errno',
      hint: "use a number from 1 to 4095, e.g. 1 (EPERM) or 38 (ENOSYS)",
    });
  });

  test("a rule with the default's action is refused because it could never change an outcome", () => {
    const err = caveErrorOf(() => compileProfile(mine({ rules: [{ names: ["read"], action: { kind: "allow" } }] })));
    expect(err.message).toBe('seccomp profile "mine": rule 1 (read) has the same action as the default (allow), so it does nothing');
  });

  test("two checks on one argument in one rule are refused, since libseccomp takes one per argument", () => {
    const err = caveErrorOf(() =>
      compileProfile(
        mine({
          rules: [{ names: ["personality"], action: { kind: "errno", errno: 1 }, args: [{ index: 0, op: "ne", value: 0 }, { index: 0, op: "ne", value: 8 }] }],
        }),
      ),
    );
    expect(err.message).toBe('seccomp profile "mine": rule 1 (personality) checks argument 0 twice');
  });

  test("an unconditional rule next to a conditional one with another action is refused, since libseccomp would drop the checks", () => {
    const err = caveErrorOf(() =>
      compileProfile(
        mine({
          defaultAction: { kind: "errno", errno: 38 },
          rules: [
            { names: ["ioctl"], action: { kind: "allow" } },
            { names: ["ioctl"], action: { kind: "errno", errno: 1 }, args: [{ index: 1, op: "masked_eq", mask: 0xffffffff, value: TIOCSTI }] },
          ],
        }),
      ),
    );
    expect(err.message).toBe(
      'seccomp profile "mine": ioctl has a rule without argument checks (allow) and one with them (errno 1); libseccomp would drop the argument checks',
    );
  });

  test("two unconditional actions for one syscall are refused", () => {
    const err = caveErrorOf(() =>
      compileProfile(mine({ rules: [{ names: ["read"], action: { kind: "kill" } }, { names: ["read"], action: { kind: "log" } }] })),
    );
    expect(err.message).toBe('seccomp profile "mine": read is given two actions, kill and log');
  });

  test("masked_eq without a mask and an argument index past 5 are refused", () => {
    const noMask = caveErrorOf(() =>
      compileProfile(mine({ rules: [{ names: ["socket"], action: { kind: "kill" }, args: [{ index: 0, op: "masked_eq", value: 40 }] }] })),
    );
    expect(noMask.message).toBe('seccomp profile "mine": rule 1 (socket) uses masked_eq on argument 0 without a mask');
    const index = caveErrorOf(() => compileProfile(mine({ rules: [{ names: ["socket"], action: { kind: "kill" }, args: [{ index: 6, op: "eq", value: 40 }] }] })));
    expect(index.message).toBe('seccomp profile "mine": rule 1 (socket) checks argument 6');
  });

  test("an unknown profile name is a config error that lists the names", () => {
    expect(caveErrorOf(() => buildSeccompFilter("strcit"))).toEqual({
      code: "CONFIG_INVALID",
      message: 'unknown seccomp profile "strcit"',
      hint: "use one of default, strict, none",
    });
  });
});

describe("syscalls libseccomp may not know by name (fchmodat2)", () => {
  /** A libseccomp that predates fchmodat2: knows every other name, not that one. */
  const older = (name: string) => (name === "fchmodat2" ? null : resolveSyscall(name));
  const viaOlder = (name: string) => syscallNumber(name, older);

  test("a name libseccomp resolves is taken from libseccomp; fchmodat2 resolves to 452 either way on x86_64 and aarch64", () => {
    expect(syscallNumber("openat", () => 257, SCMP_ARCH.AARCH64)).toBe(257);
    expect(syscallNumber("fchmodat2", () => 1000)).toBe(1000);
    expect([syscallNumber("fchmodat2", older, SCMP_ARCH.X86_64), syscallNumber("fchmodat2", older, SCMP_ARCH.AARCH64)]).toEqual([452, 452]);
  });

  test.skipIf(ARCH !== SCMP_ARCH.X86_64 && ARCH !== SCMP_ARCH.AARCH64)("this libseccomp, if it knows fchmodat2, agrees: 452 (x86_64 and aarch64 only)", () => {
    expect([resolveSyscall("fchmodat2") ?? 452, syscallNumber("fchmodat2")]).toEqual([452, 452]);
  });

  test("the number is used only for fchmodat2 and only on the arches it is listed for: elsewhere the name stays unknown", () => {
    expect(syscallNumber("fchmodat2", older, SCMP_ARCH.ARM)).toBeNull();
    expect(syscallNumber("opne", () => null, SCMP_ARCH.X86_64)).toBeNull();
    expect(syscallNumber("toString", () => null, SCMP_ARCH.X86_64)).toBeNull();
    const err = caveErrorOf(() => compileProfile(DEFAULT_PROFILE, (n) => syscallNumber(n, older, SCMP_ARCH.ARM)));
    expect(err.message).toBe('seccomp profile "default": unknown syscall "fchmodat2"');
  });

  test.skipIf(ARCH !== SCMP_ARCH.X86_64 && ARCH !== SCMP_ARCH.AARCH64)(
    "default and strict compile to the same program whether fchmodat2 comes by name or by number, and it refuses setuid and setgid modes (x86_64 and aarch64)",
    () => {
      for (const profile of [DEFAULT_PROFILE, STRICT_PROFILE]) {
        const byNumber = compileProfile(profile, viaOlder);
        const at = (...args: bigint[]) => evaluate(byNumber, ARCH, 452, args).toString(16);
        expect({ profile: profile.name, suid: at(0n, 0n, 0o4755n), sgid: at(0n, 0n, 0o2755n), high: at(0n, 0n, HIGH | 0o4755n), plain: at(0n, 0n, 0o755n) }).toEqual({
          profile: profile.name,
          suid: EPERM.toString(16),
          sgid: EPERM.toString(16),
          high: EPERM.toString(16),
          plain: SCMP_ACT.ALLOW.toString(16),
        });
        expect(Buffer.from(byNumber).equals(Buffer.from(compileProfile(profile)))).toBe(true);
      }
    },
  );

  test("libseccomp takes a rule on a syscall number it has no name for", () => {
    const bpf = compileProfile(mine({ rules: [{ names: ["future_call"], action: { kind: "errno", errno: 1 } }] }), (n) => (n === "future_call" ? 500 : resolveSyscall(n)));
    expect([evaluate(bpf, ARCH, 500), evaluate(bpf, ARCH, nr("read"))]).toEqual([EPERM, SCMP_ACT.ALLOW]);
  });
});

describe("libseccomp names", () => {
  test("an unknown name resolves to null, never to a number", () => {
    expect(resolveSyscall("opne")).toBeNull();
  });

  test.skipIf(ARCH !== SCMP_ARCH.X86_64)("on x86_64 openat is 257 and socketcall is a pseudo syscall (negative)", () => {
    expect(resolveSyscall("openat")).toBe(257);
    expect(resolveSyscall("socketcall") as number).toBeLessThan(-1);
  });
});
