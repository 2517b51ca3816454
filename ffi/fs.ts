// The synchronous file calls of `cave run`'s path, straight to libc through bun:ffi, in the
// shape of node:fs (same names, arguments, and errors with .code/.errno/.syscall/.path).
//
// Why not node:fs: importing it costs ~1.1–1.4 ms in a compiled cave (Bun initialises the
// whole module), about a tenth of a sandbox's start-up. The run path needs only these few
// calls; everything else in cave keeps using node:fs.
import { ptr } from "bun:ffi";
import { errno, symbols as libc } from "./libc.ts";

/** The O_* and access-mode numbers of Linux (x86_64 and aarch64 agree on these). */
export const constants = {
  F_OK: 0,
  W_OK: 2,
  O_RDONLY: 0,
  O_WRONLY: 1,
  O_RDWR: 2,
  O_CREAT: 0o100,
  O_EXCL: 0o200,
  O_TRUNC: 0o1000,
  O_APPEND: 0o2000,
  O_NONBLOCK: 0o4000,
  O_DIRECTORY: 0o200000,
  O_NOFOLLOW: 0o400000,
  O_CLOEXEC: 0o2000000,
} as const;

/** errno → node:fs's code and wording (libuv's), so messages read as they did with node:fs. */
const CODES: Record<number, [string, string]> = {
  1: ["EPERM", "operation not permitted"],
  2: ["ENOENT", "no such file or directory"],
  4: ["EINTR", "interrupted system call"],
  5: ["EIO", "i/o error"],
  9: ["EBADF", "bad file descriptor"],
  11: ["EAGAIN", "resource temporarily unavailable"],
  12: ["ENOMEM", "not enough memory"],
  13: ["EACCES", "permission denied"],
  16: ["EBUSY", "resource busy or locked"],
  17: ["EEXIST", "file already exists"],
  18: ["EXDEV", "cross-device link not permitted"],
  19: ["ENODEV", "no such device"],
  20: ["ENOTDIR", "not a directory"],
  21: ["EISDIR", "illegal operation on a directory"],
  22: ["EINVAL", "invalid argument"],
  24: ["EMFILE", "too many open files"],
  27: ["EFBIG", "file too large"],
  28: ["ENOSPC", "no space left on device"],
  30: ["EROFS", "read-only file system"],
  36: ["ENAMETOOLONG", "name too long"],
  39: ["ENOTEMPTY", "directory not empty"],
  40: ["ELOOP", "too many symbolic links encountered"],
  75: ["EOVERFLOW", "value too large for defined data type"],
  95: ["EOPNOTSUPP", "operation not supported on socket"],
};

/** A failed call, shaped as node:fs's errors are (code, errno, syscall, path, message). */
export class FsError extends Error {
  readonly code: string;
  constructor(
    readonly syscall: string,
    readonly errno: number,
    readonly path?: string,
  ) {
    const [code, text] = CODES[errno] ?? [`E${errno}`, `errno ${errno}`];
    super(`${code}: ${text}, ${syscall}${path === undefined ? "" : ` '${path}'`}`);
    this.code = code;
    this.name = "FsError";
  }
}

const enc = new TextEncoder();
const dec = new TextDecoder();
const cpath = (path: string): Uint8Array => enc.encode(`${path}\0`);

/** Runs a call until it is not interrupted; a negative result throws FsError. */
function sys(name: string, path: string | undefined, call: () => number | bigint): number {
  for (;;) {
    const r = Number(call());
    if (r >= 0) return r;
    const e = errno();
    if (e !== 4) throw new FsError(name, e, path);
  }
}

export function openSync(path: string, flags: number, mode = 0o666): number {
  const c = cpath(path);
  return sys("open", path, () => libc().open(ptr(c), flags | constants.O_CLOEXEC, mode));
}

export function closeSync(fd: number): void {
  libc().close(fd);
}

/** pread(2) when `position` is a number, else read(2); like node:fs.readSync. */
export function readSync(
  fd: number,
  buf: Uint8Array,
  offset = 0,
  length = buf.byteLength - offset,
  position: number | null = null,
): number {
  if (length === 0) return 0;
  return sys("read", undefined, () =>
    position === null
      ? libc().read(fd, ptr(buf, offset), length)
      : libc().pread(fd, ptr(buf, offset), length, position),
  );
}

/** write(2) once (may be short, as node:fs.writeSync); a string is written as UTF-8. */
export function writeSync(fd: number, data: string | Uint8Array, offset = 0): number {
  const buf = typeof data === "string" ? enc.encode(data) : data;
  if (buf.byteLength - offset === 0) return 0;
  return sys("write", undefined, () => libc().write(fd, ptr(buf, offset), buf.byteLength - offset));
}

/** The whole file: read until EOF (proc and cgroup files report size 0, so no fstat). */
export function readFileSync(path: string): Uint8Array;
export function readFileSync(path: string, encoding: "utf8"): string;
export function readFileSync(path: string, encoding?: "utf8"): string | Uint8Array {
  const fd = openSync(path, constants.O_RDONLY);
  try {
    let buf = new Uint8Array(4096);
    let len = 0;
    for (;;) {
      if (len === buf.byteLength) {
        const bigger = new Uint8Array(buf.byteLength * 2);
        bigger.set(buf);
        buf = bigger;
      }
      const n = readSync(fd, buf, len, buf.byteLength - len);
      if (n === 0) break;
      len += n;
    }
    const out = buf.subarray(0, len);
    return encoding === "utf8" ? dec.decode(out) : out;
  } finally {
    closeSync(fd);
  }
}

const S_IFMT = 0o170000;
const AT_FDCWD = -100;
const AT_SYMLINK_NOFOLLOW = 0x100;
const AT_EMPTY_PATH = 0x1000;
const STATX_BASIC_STATS = 0x7ff;

export interface Stats {
  mode: number;
  uid: number;
  gid: number;
  size: number;
  ino: bigint;
  dev: number;
  mtimeMs: number;
  isFile(): boolean;
  isDirectory(): boolean;
  isSymbolicLink(): boolean;
}

/** struct statx (linux/stat.h), the offsets of the fields read here. */
function statxOf(name: string, dirfd: number, path: string, flags: number): Stats {
  const buf = new Uint8Array(256);
  const c = cpath(path);
  sys(name, path || undefined, () => libc().statx(dirfd, ptr(c), flags, STATX_BASIC_STATS, ptr(buf)));
  const v = new DataView(buf.buffer);
  const mode = v.getUint16(28, true);
  const type = mode & S_IFMT;
  const devMajor = v.getUint32(136, true);
  const devMinor = v.getUint32(140, true);
  return {
    mode,
    uid: v.getUint32(20, true),
    gid: v.getUint32(24, true),
    size: Number(v.getBigUint64(40, true)),
    ino: v.getBigUint64(32, true),
    // glibc's makedev, as node:fs reports st_dev
    dev: ((devMajor & 0xfff) << 8) | (devMinor & 0xff) | ((devMinor & ~0xff) << 12),
    mtimeMs: Number(v.getBigInt64(112, true)) * 1000 + v.getUint32(120, true) / 1e6,
    isFile: () => type === 0o100000,
    isDirectory: () => type === 0o040000,
    isSymbolicLink: () => type === 0o120000,
  };
}

export const statSync = (path: string): Stats => statxOf("stat", AT_FDCWD, path, 0);
export const lstatSync = (path: string): Stats => statxOf("lstat", AT_FDCWD, path, AT_SYMLINK_NOFOLLOW);
export const fstatSync = (fd: number): Stats => statxOf("fstat", fd, "", AT_EMPTY_PATH);

export function accessSync(path: string, mode: number = constants.F_OK): void {
  const c = cpath(path);
  sys("access", path, () => libc().access(ptr(c), mode));
}

export function existsSync(path: string): boolean {
  try {
    accessSync(path);
    return true;
  } catch {
    return false;
  }
}

export function readlinkSync(path: string): string {
  const c = cpath(path);
  const buf = new Uint8Array(4096);
  const n = sys("readlink", path, () => libc().readlink(ptr(c), ptr(buf), buf.byteLength));
  return dec.decode(buf.subarray(0, n));
}

/** mkdir(2); with `recursive`, the missing parents too and no error if it exists (as node:fs). */
export function mkdirSync(path: string, opts: { recursive?: boolean; mode?: number } = {}): void {
  const mode = opts.mode ?? 0o777;
  const make = (dir: string) => {
    const c = cpath(dir);
    sys("mkdir", dir, () => libc().mkdir(ptr(c), mode));
  };
  if (!opts.recursive) {
    make(path);
    return;
  }
  try {
    make(path);
  } catch (e) {
    const code = (e as FsError).code;
    if (code === "EEXIST" && statSync(path).isDirectory()) return;
    if (code !== "ENOENT") throw e;
    const parent = path.replace(/\/+[^/]+\/*$/, "");
    if (parent === "" || parent === path) throw e;
    mkdirSync(parent, opts);
    make(path);
  }
}

export function rmdirSync(path: string): void {
  const c = cpath(path);
  sys("rmdir", path, () => libc().rmdir(ptr(c)));
}

export function unlinkSync(path: string): void {
  const c = cpath(path);
  sys("unlink", path, () => libc().unlink(ptr(c)));
}

export function renameSync(from: string, to: string): void {
  const a = cpath(from);
  const b = cpath(to);
  sys("rename", from, () => libc().rename(ptr(a), ptr(b)));
}

export interface Dirent {
  name: string;
  isFile(): boolean;
  isDirectory(): boolean;
  isSymbolicLink(): boolean;
}

const DT_DIR = 4;
const DT_REG = 8;
const DT_LNK = 10;
const DT_UNKNOWN = 0;

/** The entries of a directory (no . and ..), with their types from getdents64. */
export function readdirSync(dir: string, opts: { withFileTypes: true }): Dirent[];
export function readdirSync(dir: string): string[];
export function readdirSync(dir: string, opts?: { withFileTypes: true }): Dirent[] | string[] {
  const fd = openSync(dir, constants.O_RDONLY | constants.O_DIRECTORY);
  const out: Dirent[] = [];
  try {
    const buf = new Uint8Array(32768);
    const v = new DataView(buf.buffer);
    for (;;) {
      const n = sys("getdents64", dir, () => libc().getdents64(fd, ptr(buf), buf.byteLength));
      if (n === 0) break;
      for (let off = 0; off < n; ) {
        const reclen = v.getUint16(off + 16, true);
        let type = buf[off + 18]!;
        const end = buf.indexOf(0, off + 19);
        const name = dec.decode(buf.subarray(off + 19, end));
        off += reclen;
        if (name === "." || name === "..") continue;
        // Some file systems leave the type unknown: ask lstat, as node:fs does.
        if (type === DT_UNKNOWN) {
          const st = lstatSync(`${dir}/${name}`);
          type = st.isDirectory() ? DT_DIR : st.isSymbolicLink() ? DT_LNK : st.isFile() ? DT_REG : DT_UNKNOWN;
        }
        const t = type;
        out.push({
          name,
          isFile: () => t === DT_REG,
          isDirectory: () => t === DT_DIR,
          isSymbolicLink: () => t === DT_LNK,
        });
      }
    }
  } finally {
    closeSync(fd);
  }
  return opts?.withFileTypes ? out : out.map((d) => d.name);
}
