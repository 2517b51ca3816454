// Loads the native helper (ffi/helper.c) and encodes a spawn request in its ABI.
// The helper is built by `make build`; in the compiled binary it is embedded and
// dlopen'ed from a memfd, because dlopen cannot read Bun's virtual /$bunfs.
import { existsSync } from "./fs.ts";
import { dlopen, FFIType, ptr } from "bun:ffi";
import helperPath from "./helper.so" with { type: "file" };
import initPath from "./cave-init.bin" with { type: "file" };
import { memfdCreate, writeAll, addressOf } from "./libc.ts";

export type NativeOp =
  | { kind: "mount"; src: string | null; target: string; fstype: string | null; flags: number; data: string | null }
  | { kind: "mkdir"; path: string; mode: number; ignoreExist?: boolean }
  | { kind: "symlink"; target: string; path: string; ignoreExist?: boolean }
  | { kind: "chdir"; path: string }
  | { kind: "pivot_root" }
  | { kind: "sethostname"; name: string }
  | { kind: "unshare"; flags: number }
  | { kind: "sync" }
  | { kind: "setid"; uid: number; gid: number }
  | { kind: "create_file"; path: string; mode: number }
  | { kind: "mount_setattr"; path: string | null; treeSlot?: number; usernsSlot?: number; set: number; clear: number; recursive: boolean; tolerate?: "EINVAL" }
  | { kind: "open_tree"; path: string; recursive: boolean; slot: number }
  | { kind: "move_mount"; slot: number; target: string }
  | { kind: "chown"; path: string; uid: number; gid: number }
  | { kind: "chmod"; path: string; mode: number }
  | { kind: "setrlimit"; resource: number; soft: bigint; hard: bigint }
  | { kind: "lo_up" }
  | { kind: "umount"; path: string; flags: number }
  | { kind: "userns"; uidMap: string; gidMap: string; procDir: string; slot: number }
  | { kind: "setns"; slot: number; nstype: number }
  | { kind: "write"; path: string; data: string }
  | { kind: "pty" }
  | { kind: "setns_fd"; fd: number; nstype: number }
  | { kind: "devnull_stdio"; path: string }
  | { kind: "handoff"; slot: number };

const OPCODE: Record<NativeOp["kind"], number> = {
  mount: 1, mkdir: 2, symlink: 3, chdir: 4, pivot_root: 5, sethostname: 6, unshare: 7, sync: 8,
  setid: 9, create_file: 10, mount_setattr: 11, open_tree: 12, move_mount: 13, chown: 14,
  setrlimit: 15, lo_up: 16, umount: 17, userns: 18, setns: 19, chmod: 20, write: 21, pty: 22,
  setns_fd: 23, devnull_stdio: 24, handoff: 25,
};

/** Messages the child writes on the status pipe (struct cave_msg). */
export const MSG = { SYNC: 1, SETUP_ERR: 2, EXEC_ERR: 3, EXIT: 4, STARTED: 5, PTY: 6 } as const;
export const MSG_SIZE = 16;
/** Steps below zero are fixed points in the helper, not ops. */
export const FIXED_STEPS: Record<number, string> = {
  [-1]: "block signals in init", [-2]: "fork the command", [-3]: "close inherited file descriptors",
  [-4]: "set the parent-death signal", [-5]: "make init non-dumpable", [-10]: "start a new session",
  [-11]: "take the terminal as controlling terminal", [-12]: "attach the terminal to stdio",
  [-13]: "change to the working directory", [-14]: "drop capabilities", [-15]: "set no_new_privs",
  [-16]: "restore default signal handling", [-17]: "mark inherited descriptors close-on-exec",
  [-18]: "load the seccomp filter", [-6]: "hand cave-init the status socket", [-7]: "exec cave-init",
};
export const SPAWN_FLAGS = { NEW_SESSION: 1, DETACHED: 4, EXEC: 8 } as const;

export interface SpawnRequest {
  cloneFlags: number;
  cgroupFd: number;
  statusFd: number;
  syncFd: number;
  ops: readonly NativeOp[];
  keepFds: readonly number[];
  argv: readonly string[];
  env: readonly string[];
  path: string;
  workdir: string;
  keepCaps: bigint;
  seccomp: Uint8Array | null;
  ttyFd: number;
  flags: number;
  /** With SPAWN_FLAGS.DETACHED: a memfd holding cave-init (see initBinaryFd), kept in keepFds. */
  initFd?: number;
  /** Descriptors that become the command's 0, 1, 2 (-1: inherit cave's); kept in keepFds. */
  stdio?: readonly [number, number, number];
}

let initFd: number | undefined;
/** A close-on-exec memfd holding cave-init (ffi/init.c), made once per process. */
export async function initBinaryFd(): Promise<number> {
  if (initFd !== undefined) return initFd;
  const fd = memfdCreate("cave-init", true);
  writeAll(fd, await Bun.file(initPath).bytes());
  initFd = fd;
  return fd;
}

type Native = { spawn: (spec: number) => number | bigint; release: (spec: number) => void };
let native: Native | undefined;
/**
 * Loads the helper: from the source tree, or out of the executable into a memfd. Async
 * because files embedded in a compiled cave (/$bunfs) are readable only through Bun.file,
 * and node:fs costs a millisecond to import; nativeSpawn needs it done first.
 */
export async function loadNative(): Promise<void> {
  if (native) return;
  let path = helperPath;
  if (path.startsWith("/$bunfs")) {
    const fd = memfdCreate("cave-helper");
    writeAll(fd, await Bun.file(helperPath).bytes());
    path = `/proc/self/fd/${fd}`;
  } else if (!existsSync(path)) {
    throw new Error(`native helper ${path} is missing: run \`make build\` first`);
  }
  const lib = dlopen(path, {
    cave_spawn: { args: [FFIType.ptr], returns: FFIType.i64 },
    cave_release: { args: [FFIType.ptr], returns: FFIType.void },
  });
  native = {
    spawn: lib.symbols.cave_spawn as unknown as Native["spawn"],
    release: lib.symbols.cave_release as unknown as Native["release"],
  };
}

function load(): Native {
  if (!native) throw new Error("nativeSpawn before loadNative(): await loadNative() first");
  return native;
}

/** A cloned sandbox: its pid, a pidfd, and what to free once its init has been reaped. */
export interface Spawned {
  pid: number;
  pidfd: number;
  /** Frees the child's stacks; call only after its init is reaped (its memory is shared). */
  release(): void;
}

/** Builds the string arena and pointer tables the helper reads after clone. */
class Arena {
  private parts: Buffer[] = [];
  private size = 0;
  private fixups: { table: BigUint64Array; index: number; offset: number }[] = [];
  str(table: BigUint64Array, index: number, s: string | null): void {
    if (s === null) return;
    const b = Buffer.from(`${s}\0`);
    this.fixups.push({ table, index, offset: this.size });
    this.parts.push(b);
    this.size += b.byteLength;
  }
  seal(): Buffer {
    const buf = Buffer.concat(this.parts);
    const base = addressOf(buf);
    for (const f of this.fixups) f.table[f.index] = base + BigInt(f.offset);
    return buf;
  }
}

/** Clones the sandbox child. Returns its pid and a pidfd, or throws errno. */
export function nativeSpawn(req: SpawnRequest): Spawned {
  const { spawn, release } = load();
  const arena = new Arena();
  const ops = new BigUint64Array(req.ops.length * 6);
  const u = (i: number, v: number | bigint) => {
    ops[i] = BigInt.asUintN(64, BigInt(v));
  };
  req.ops.forEach((op, n) => {
    const o = n * 6;
    const flags = ("ignoreExist" in op && op.ignoreExist ? 1 : 0) | ("tolerate" in op && op.tolerate === "EINVAL" ? 2 : 0);
    ops[o] = BigInt(OPCODE[op.kind]) | (BigInt(flags) << 32n);
    const s = (k: number, v: string | null) => arena.str(ops, o + k, v);
    switch (op.kind) {
      case "mount": s(1, op.src); s(2, op.target); s(3, op.fstype); u(o + 4, op.flags); s(5, op.data); break;
      case "mkdir": s(1, op.path); u(o + 2, op.mode); break;
      case "symlink": s(1, op.target); s(2, op.path); break;
      case "chdir": s(1, op.path); break;
      case "pivot_root": case "sync": case "lo_up": case "pty": break;
      case "sethostname": s(1, op.name); u(o + 2, Buffer.byteLength(op.name)); break;
      case "unshare": u(o + 1, op.flags); break;
      case "setid": u(o + 1, op.uid); u(o + 2, op.gid); break;
      case "create_file": s(1, op.path); u(o + 2, op.mode); break;
      case "mount_setattr":
        s(1, op.path); u(o + 2, op.set); u(o + 3, op.clear); u(o + 4, op.recursive ? 0x8000 : 0);
        u(o + 5, (BigInt((op.usernsSlot ?? -1) + 1) << 32n) | BigInt((op.treeSlot ?? -1) + 1));
        break;
      case "open_tree": s(1, op.path); u(o + 2, 1 | (op.recursive ? 0x8000 : 0)); u(o + 5, op.slot); break;
      case "move_mount": s(1, op.target); u(o + 5, op.slot); break;
      case "chown": s(1, op.path); u(o + 2, op.uid); u(o + 3, op.gid); break;
      case "chmod": s(1, op.path); u(o + 2, op.mode); break;
      case "setrlimit": u(o + 1, op.resource); u(o + 2, op.soft); u(o + 3, op.hard); break;
      case "umount": s(1, op.path); u(o + 2, op.flags); break;
      case "userns": s(1, op.uidMap); s(2, op.gidMap); s(3, op.procDir); u(o + 5, op.slot); break;
      case "setns": u(o + 5, op.slot); u(o + 2, op.nstype); break;
      case "write": s(1, op.path); s(2, op.data); u(o + 3, Buffer.byteLength(op.data)); break;
      case "setns_fd": u(o + 1, op.fd); u(o + 2, op.nstype); break;
      case "devnull_stdio": s(1, op.path); break;
      case "handoff": u(o + 5, op.slot); break;
      default: {
        const never: never = op;
        throw new Error(`unknown op ${JSON.stringify(never)}`);
      }
    }
  });
  // The kernel-side struct stores kind and flags as two u32: kind low, flags high (little endian).
  const argv = new BigUint64Array(req.argv.length + 1);
  for (const [i, a] of req.argv.entries()) arena.str(argv, i, a);
  const envp = new BigUint64Array(req.env.length + 1);
  for (const [i, e] of req.env.entries()) arena.str(envp, i, e);
  const spec = new BigUint64Array(25);
  arena.str(spec, 10, req.path);
  arena.str(spec, 11, req.workdir);
  const strings = arena.seal();
  const keep = new Int32Array([...req.keepFds].sort((a, b) => a - b));
  const i64 = (v: number) => BigInt.asUintN(64, BigInt(v));
  spec[0] = i64(req.cloneFlags);
  spec[1] = i64(req.cgroupFd);
  spec[2] = i64(req.statusFd);
  spec[3] = i64(req.syncFd);
  spec[4] = BigInt(req.ops.length);
  spec[5] = req.ops.length ? addressOf(ops) : 0n;
  spec[6] = BigInt(keep.length);
  spec[7] = keep.length ? addressOf(keep) : 0n;
  spec[8] = addressOf(argv);
  spec[9] = addressOf(envp);
  spec[12] = req.keepCaps;
  spec[13] = BigInt(req.seccomp ? req.seccomp.byteLength / 8 : 0);
  spec[14] = req.seccomp ? addressOf(req.seccomp) : 0n;
  spec[15] = i64(req.ttyFd);
  spec[16] = BigInt(req.flags);
  spec[20] = i64(req.initFd ?? -1);
  const stdio = req.stdio ?? [-1, -1, -1];
  for (let i = 0; i < 3; i++) spec[21 + i] = i64(stdio[i] as number);
  const r = Number(spawn(ptr(spec)));
  // The child reads these buffers (on x86_64 it shares our memory rather than copying it)
  // until the command has started, so they live as long as the handle.
  let held: unknown[] | null = [strings, ops, argv, envp, keep, req.seccomp, spec];
  const done = () => {
    if (!held) return;
    release(ptr(spec));
    held = null;
  };
  if (r < 0) {
    done();
    return { pid: r, pidfd: -1, release: () => {} };
  }
  return { pid: r, pidfd: Number(BigInt.asIntN(64, spec[17] as bigint)), release: done };
}
