// libseccomp through bun:ffi: builds a filter in memory and exports it as a raw BPF program
// (struct sock_filter[]) that the native helper loads just before execve. Nothing is loaded here.
// Loaded by soname so 2.5.x (this machine) and 2.6.x (elsewhere) both work.
import { fstatSync, readSync } from "./fs.ts";
import { dlopen, FFIType, ptr, read as peek, type Pointer } from "bun:ffi";
import { CaveError } from "../src/core/errors.ts";
import { close, errnoName, memfdCreate, SysError } from "./libc.ts";

/** Filter actions (SCMP_ACT_*); `errno(n)` makes the syscall fail with n. */
export const SCMP_ACT = {
  KILL_PROCESS: 0x80000000,
  KILL_THREAD: 0x00000000,
  TRAP: 0x00030000,
  LOG: 0x7ffc0000,
  ALLOW: 0x7fff0000,
  errno: (e: number) => (0x00050000 | (e & 0xffff)) >>> 0,
} as const;

/** Argument comparison operators (enum scmp_compare). */
export const SCMP_CMP = { NE: 1, LT: 2, LE: 3, EQ: 4, GE: 5, GT: 6, MASKED_EQ: 7 } as const;

/** Architecture tokens: AUDIT_ARCH_* values, except x32 which libseccomp tells apart itself. */
export const SCMP_ARCH = {
  NATIVE: 0,
  X86: 0x40000003,
  X86_64: 0xc000003e,
  X32: 0x4000003e,
  ARM: 0x40000028,
  AARCH64: 0xc00000b7,
} as const;

/** Filter attributes (enum scmp_filter_attr). */
export const SCMP_FLTATR = {
  ACT_DEFAULT: 1,
  ACT_BADARCH: 2,
  CTL_NNP: 3,
  CTL_TSYNC: 4,
  API_TSKIP: 5,
  CTL_LOG: 6,
  CTL_SSB: 7,
  CTL_OPTIMIZE: 8,
} as const;

/** One argument check of a rule (struct scmp_arg_cmp); for MASKED_EQ `a` is the mask, `b` the value. */
export interface ArgCmp {
  arg: number;
  op: number;
  a: bigint;
  b: bigint;
}

/** Bytes per BPF instruction (struct sock_filter). */
export const BPF_INSN_SIZE = 8;

let lib: ReturnType<typeof open> | undefined;
function open() {
  return dlopen("libseccomp.so.2", {
    seccomp_version: { args: [], returns: FFIType.ptr },
    seccomp_init: { args: [FFIType.u32], returns: FFIType.ptr },
    seccomp_release: { args: [FFIType.ptr], returns: FFIType.void },
    seccomp_arch_native: { args: [], returns: FFIType.u32 },
    seccomp_arch_add: { args: [FFIType.ptr, FFIType.u32], returns: FFIType.i32 },
    seccomp_arch_exist: { args: [FFIType.ptr, FFIType.u32], returns: FFIType.i32 },
    seccomp_attr_set: { args: [FFIType.ptr, FFIType.i32, FFIType.u32], returns: FFIType.i32 },
    seccomp_syscall_resolve_name: { args: [FFIType.cstring], returns: FFIType.i32 },
    seccomp_rule_add_array: { args: [FFIType.ptr, FFIType.u32, FFIType.i32, FFIType.u32, FFIType.ptr], returns: FFIType.i32 },
    seccomp_export_bpf: { args: [FFIType.ptr, FFIType.i32], returns: FFIType.i32 },
  });
}
function loadError(e: unknown): CaveError {
  return new CaveError("SANDBOX_SECCOMP", "cannot load libseccomp.so.2, which cave needs to build the syscall filter", {
    hint: "install it (Debian/Ubuntu: apt-get install libseccomp2), or run with --seccomp none to go without a filter",
    cause: e,
  });
}
function seccomp() {
  if (!lib) {
    try {
      lib = open();
    } catch (e) {
      throw loadError(e);
    }
  }
  return lib.symbols;
}

// Bun compiles a trampoline per bound symbol: a cache hit of the filter needs only the version.
function openVersion() {
  return dlopen("libseccomp.so.2", { seccomp_version: { args: [], returns: FFIType.ptr } });
}
let versionLib: ReturnType<typeof openVersion> | undefined;
function versionSymbol(): { seccomp_version: ReturnType<typeof openVersion>["symbols"]["seccomp_version"] } {
  if (lib) return lib.symbols;
  if (!versionLib) {
    try {
      versionLib = openVersion();
    } catch (e) {
      throw loadError(e);
    }
  }
  return versionLib.symbols;
}

/** libseccomp's "not a syscall" answer from seccomp_syscall_resolve_name. */
const NR_SCMP_ERROR = -1;

/** The libseccomp release actually loaded, e.g. "2.5.4". */
export function libseccompVersion(): string {
  const v = versionSymbol().seccomp_version();
  if (!v) return "unknown";
  // struct scmp_version { unsigned int major, minor, micro; }
  return `${peek.u32(v, 0)}.${peek.u32(v, 4)}.${peek.u32(v, 8)}`;
}

/** The native architecture token (SCMP_ARCH_*). */
export function nativeArch(): number {
  return seccomp().seccomp_arch_native();
}

/**
 * The syscall number for `name` on the native arch; null when libseccomp knows no such syscall.
 * A negative number other than -1 is a pseudo syscall: known, but absent on this arch
 * (libseccomp turns rules on it into nothing here and into the real number elsewhere).
 */
export function resolveSyscall(name: string): number | null {
  const nr = seccomp().seccomp_syscall_resolve_name(Buffer.from(`${name}\0`));
  return nr === NR_SCMP_ERROR ? null : nr;
}

function fail(call: string, rc: number, what: string): never {
  throw new CaveError("SANDBOX_SECCOMP", `${call} failed while ${what}: ${errnoName(-rc)}`, {
    hint: "this is a bug in the filter cave generated, or a libseccomp older than 2.5; run with --seccomp none to go without a filter",
    cause: new SysError(call, -rc),
  });
}

/** A libseccomp filter context; call release() when done (it owns C memory). */
export class SeccompFilter {
  private ctx: Pointer | null;

  private constructor(ctx: Pointer) {
    this.ctx = ctx;
  }

  static create(defaultAction: number): SeccompFilter {
    const ctx = seccomp().seccomp_init(defaultAction >>> 0);
    // NULL when libseccomp rejects the action; Bun hands pointers over as numbers.
    if (typeof ctx !== "number" || ctx === 0) {
      throw new CaveError("SANDBOX_SECCOMP", `seccomp_init refused default action 0x${(defaultAction >>> 0).toString(16)}`, {
        hint: "the kernel or libseccomp may not support this action (kill needs Linux 4.14+)",
      });
    }
    return new SeccompFilter(ctx);
  }

  private get handle(): Pointer {
    if (this.ctx === null) throw new CaveError("SANDBOX_SECCOMP", "the seccomp filter was used after release()");
    return this.ctx;
  }

  setAttr(attr: number, value: number): void {
    const rc = seccomp().seccomp_attr_set(this.handle, attr, value >>> 0);
    if (rc < 0) fail("seccomp_attr_set", rc, `setting attribute ${attr} to ${value}`);
  }

  addArch(arch: number): void {
    const rc = seccomp().seccomp_arch_add(this.handle, arch >>> 0);
    // EEXIST: already there (the native arch always is), which is what we asked for.
    if (rc < 0 && rc !== -17) fail("seccomp_arch_add", rc, `adding arch 0x${(arch >>> 0).toString(16)}`);
  }

  hasArch(arch: number): boolean {
    const rc = seccomp().seccomp_arch_exist(this.handle, arch >>> 0);
    if (rc === 0) return true;
    if (rc === -17) return false;
    fail("seccomp_arch_exist", rc, `checking arch 0x${(arch >>> 0).toString(16)}`);
  }

  /** Adds `action` for syscall `nr` when every comparison in `args` holds (AND). */
  addRule(action: number, nr: number, args: readonly ArgCmp[] = [], label = `syscall ${nr}`): void {
    const buf = new ArrayBuffer(Math.max(1, args.length) * 24);
    const view = new DataView(buf);
    args.forEach((c, i) => {
      view.setUint32(i * 24, c.arg, true);
      view.setUint32(i * 24 + 4, c.op, true);
      view.setBigUint64(i * 24 + 8, BigInt.asUintN(64, c.a), true);
      view.setBigUint64(i * 24 + 16, BigInt.asUintN(64, c.b), true);
    });
    const bytes = new Uint8Array(buf);
    const rc = seccomp().seccomp_rule_add_array(this.handle, action >>> 0, nr, args.length, args.length ? ptr(bytes) : null);
    if (rc < 0) fail("seccomp_rule_add_array", rc, `adding the rule for ${label}`);
  }

  /** The filter as a BPF program: struct sock_filter[], 8 bytes per instruction. */
  exportBpf(): Uint8Array {
    // libseccomp 2.5 can only export to an fd (export_bpf_mem is 2.6+), so go through a memfd.
    let fd: number;
    try {
      fd = memfdCreate("cave-seccomp");
    } catch (e) {
      throw new CaveError("SANDBOX_SECCOMP", `cannot create a memfd to export the seccomp filter into: ${(e as Error).message}`, { cause: e });
    }
    try {
      const rc = seccomp().seccomp_export_bpf(this.handle, fd);
      if (rc < 0) fail("seccomp_export_bpf", rc, "exporting the filter");
      const size = fstatSync(fd).size;
      const out = new Uint8Array(size);
      let off = 0;
      while (off < size) {
        // Positional reads: the fd's offset sits at the end after the export.
        const n = readSync(fd, out, off, size - off, off);
        if (n === 0) break;
        off += n;
      }
      if (off !== size || size === 0 || size % BPF_INSN_SIZE !== 0) {
        throw new CaveError("SANDBOX_SECCOMP", `seccomp_export_bpf wrote ${off} of ${size} bytes, not a whole BPF program`);
      }
      return out;
    } finally {
      close(fd);
    }
  }

  release(): void {
    if (this.ctx !== null) seccomp().seccomp_release(this.ctx);
    this.ctx = null;
  }
}
