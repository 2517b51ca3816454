// libc through bun:ffi: typed wrappers that throw SysError (syscall name + errno).
// Only ffi/ imports bun:ffi; no raw pointer leaves this directory.
import { dlopen, FFIType, ptr, read as peek, CString } from "bun:ffi";

const i32 = FFIType.i32;
const i64 = FFIType.i64;
const u64 = FFIType.u64;
const p = FFIType.ptr;

// One dlopen for every libc call of cave (ffi/fs.ts's too): bun:ffi compiles a trampoline
// per symbol (~10 µs) but each dlopen costs ~0.2 ms more on top, in every `cave run`.
let lib: ReturnType<typeof open> | undefined;
function open() {
  return dlopen("libc.so.6", {
    __errno_location: { args: [], returns: p },
    strerror: { args: [i32], returns: FFIType.cstring },
    pipe2: { args: [p, i32], returns: i32 },
    close: { args: [i32], returns: i32 },
    read: { args: [i32, p, u64], returns: i64 },
    write: { args: [i32, p, u64], returns: i64 },
    poll: { args: [p, u64, i32], returns: i32 },
    kill: { args: [i32, i32], returns: i32 },
    pidfd_send_signal: { args: [i32, i32, p, FFIType.u32], returns: i32 },
    waitid: { args: [i32, i32, p, i32], returns: i32 },
    memfd_create: { args: [FFIType.cstring, FFIType.u32], returns: i32 },
    isatty: { args: [i32], returns: i32 },
    open: { args: [p, i32, FFIType.u32], returns: i32 },
    ioctl: { args: [i32, u64, p], returns: i32 },
    fcntl: { args: [i32, i32, i32], returns: i32 },
    socketpair: { args: [i32, i32, i32, p], returns: i32 },
    recvmsg: { args: [i32, p, i32], returns: i64 },
    pidfd_open: { args: [i32, FFIType.u32], returns: i32 },
    flock: { args: [i32, i32], returns: i32 },
    // ffi/fs.ts's
    pread: { args: [i32, p, u64, i64], returns: i64 },
    statx: { args: [i32, p, i32, FFIType.u32, p], returns: i32 },
    readlink: { args: [p, p, u64], returns: i64 },
    mkdir: { args: [p, FFIType.u32], returns: i32 },
    rmdir: { args: [p], returns: i32 },
    rename: { args: [p, p], returns: i32 },
    unlink: { args: [p], returns: i32 },
    access: { args: [p, i32], returns: i32 },
    getdents64: { args: [i32, p, u64], returns: i64 },
  });
}
function libc() {
  lib ??= open();
  return lib.symbols;
}
/** The raw symbols, for ffi/fs.ts: code outside ffi/ calls the wrappers. */
export const symbols = libc;

/** A failed system call: which one, and errno. Converted to CaveError by callers. */
export class SysError extends Error {
  constructor(
    readonly syscall: string,
    readonly errno: number,
  ) {
    super(`${syscall}: ${errnoName(errno)} (${strerror(errno)})`);
    this.name = "SysError";
  }
}

/** The calling thread's errno, right after a failed call (ffi/fs.ts reads it too). */
export function errno(): number {
  const loc = libc().__errno_location();
  return loc ? peek.i32(loc, 0) : 0;
}

function check(name: string, r: number | bigint): number {
  const n = Number(r);
  if (n < 0) throw new SysError(name, errno());
  return n;
}

const NAMES: Record<number, string> = {
  1: "EPERM", 2: "ENOENT", 3: "ESRCH", 4: "EINTR", 5: "EIO", 7: "E2BIG", 8: "ENOEXEC", 9: "EBADF",
  10: "ECHILD", 11: "EAGAIN", 12: "ENOMEM", 13: "EACCES", 14: "EFAULT", 16: "EBUSY", 17: "EEXIST",
  18: "EXDEV", 19: "ENODEV", 20: "ENOTDIR", 21: "EISDIR", 22: "EINVAL", 24: "EMFILE", 25: "ENOTTY",
  26: "ETXTBSY", 27: "EFBIG", 28: "ENOSPC", 30: "EROFS", 32: "EPIPE", 36: "ENAMETOOLONG", 38: "ENOSYS",
  39: "ENOTEMPTY", 40: "ELOOP", 75: "EOVERFLOW", 95: "EOPNOTSUPP", 97: "EAFNOSUPPORT", 110: "ETIMEDOUT",
};
export function errnoName(e: number): string {
  return NAMES[e] ?? `errno ${e}`;
}
export function strerror(e: number): string {
  return String(libc().strerror(e));
}

export const O_RDWR = 2;
export const O_NOCTTY = 0o400;
export const O_CLOEXEC = 0o2000000;
export const O_NONBLOCK = 0o4000;

/** A pipe whose both ends are close-on-exec: [read, write]. */
export function pipe(): [number, number] {
  const fds = new Int32Array(2);
  check("pipe2", libc().pipe2(ptr(fds), O_CLOEXEC));
  return [fds[0] as number, fds[1] as number];
}

/** A connected unix stream socket pair, both ends close-on-exec. */
export function socketPair(): [number, number] {
  const fds = new Int32Array(2);
  const AF_UNIX = 1;
  const SOCK_STREAM = 1;
  check("socketpair", libc().socketpair(AF_UNIX, SOCK_STREAM | O_CLOEXEC, 0, ptr(fds)));
  return [fds[0] as number, fds[1] as number];
}

/** recvmsg(2) into buf, collecting descriptors passed with SCM_RIGHTS (made close-on-exec). */
export function recvWithFds(fd: number, buf: Uint8Array): { n: number; fds: number[] } {
  const iov = new BigUint64Array([addressOf(buf), BigInt(buf.byteLength)]);
  const control = new Uint8Array(256);
  const hdr = new BigUint64Array(7); // struct msghdr
  hdr[2] = addressOf(iov);
  hdr[3] = 1n;
  hdr[4] = addressOf(control);
  hdr[5] = BigInt(control.byteLength);
  const MSG_CMSG_CLOEXEC = 0x40000000;
  let n: number;
  for (;;) {
    n = Number(libc().recvmsg(fd, ptr(hdr), MSG_CMSG_CLOEXEC));
    if (n >= 0) break;
    const e = errno();
    if (e !== 4) throw new SysError("recvmsg", e);
  }
  const fds: number[] = [];
  const controllen = Number(hdr[5]);
  const v = new DataView(control.buffer);
  for (let off = 0; off + 16 <= controllen; ) {
    const len = Number(v.getBigUint64(off, true));
    if (len < 16) break;
    const level = v.getInt32(off + 8, true);
    const type = v.getInt32(off + 12, true);
    if (level === 1 && type === 1) for (let k = off + 16; k + 4 <= off + len; k += 4) fds.push(v.getInt32(k, true));
    off += (len + 7) & ~7;
  }
  return { n, fds };
}

export function close(fd: number): void {
  libc().close(fd);
}

/** read(2) into buf; returns bytes read (0 at EOF). Retries EINTR. */
export function read(fd: number, buf: Uint8Array): number {
  for (;;) {
    const r = Number(libc().read(fd, ptr(buf), buf.byteLength));
    if (r >= 0) return r;
    const e = errno();
    if (e !== 4) throw new SysError("read", e);
  }
}

/** write(2) the whole buffer. Retries EINTR and short writes. */
export function writeAll(fd: number, buf: Uint8Array): void {
  let off = 0;
  while (off < buf.byteLength) {
    const r = Number(libc().write(fd, ptr(buf, off), buf.byteLength - off));
    if (r < 0) {
      const e = errno();
      if (e === 4) continue;
      throw new SysError("write", e);
    }
    off += r;
  }
}

export const POLLIN = 1;
export const POLLOUT = 4;
export const POLLERR = 8;
export const POLLHUP = 16;

/** poll(2) on (fd, events) pairs; returns revents per fd (all 0 on timeout or EINTR). */
export function poll(fds: readonly (readonly [number, number])[], timeoutMs: number): number[] {
  const buf = new Int32Array(fds.length * 2);
  fds.forEach(([fd, ev], i) => {
    buf[i * 2] = fd;
    buf[i * 2 + 1] = ev; // events (low 16 bits); revents (high) start at 0
  });
  const r = libc().poll(ptr(buf), fds.length, Math.max(0, Math.floor(timeoutMs)));
  if (r < 0) {
    const e = errno();
    if (e === 4) return fds.map(() => 0);
    throw new SysError("poll", e);
  }
  return fds.map((_, i) => ((buf[i * 2 + 1] as number) >>> 16) & 0xffff);
}

export function pidfdSendSignal(pidfd: number, sig: number): void {
  const r = libc().pidfd_send_signal(pidfd, sig, null, 0);
  // ESRCH: already exited, which is what the caller wanted.
  if (r < 0) {
    const e = errno();
    if (e !== 3) throw new SysError("pidfd_send_signal", e);
  }
}

/** A pidfd for pid (pidfd_open, Linux 5.3+). Throws SysError (ESRCH when it is gone). */
export function pidfdOpen(pid: number): number {
  return check("pidfd_open", libc().pidfd_open(pid, 0));
}

/** flock(2) LOCK_EX (blocking), retrying EINTR; released by unlock or closing fd. */
export function lockExclusive(fd: number): void {
  for (;;) {
    if (libc().flock(fd, 2 /* LOCK_EX */) === 0) return;
    const e = errno();
    if (e !== 4) throw new SysError("flock", e);
  }
}

export function kill(pid: number, sig: number): boolean {
  return libc().kill(pid, sig) === 0;
}

export type WaitResult = { exited: true; code: number } | { exited: false; signal: number };
const P_PIDFD = 3;
const WEXITED = 4;
const WNOHANG = 1;
const CLD_EXITED = 1;

/** waitid(P_PIDFD); null with nohang when the child still runs. */
export function waitPidfd(pidfd: number, nohang = false): WaitResult | null {
  const info = new Int32Array(32); // siginfo_t is 128 bytes
  for (;;) {
    const r = libc().waitid(P_PIDFD, pidfd, ptr(info), WEXITED | (nohang ? WNOHANG : 0));
    if (r === 0) break;
    const e = errno();
    if (e !== 4) throw new SysError("waitid", e);
  }
  const pid = info[4] as number; // si_pid at offset 16
  if (nohang && pid === 0) return null;
  const code = info[2] as number; // si_code at offset 8
  const status = info[6] as number; // si_status at offset 24
  return code === CLD_EXITED ? { exited: true, code: status } : { exited: false, signal: status };
}

/** A close-on-exec memfd; `executable` asks for MFD_EXEC where the kernel knows it (6.3+). */
export function memfdCreate(name: string, executable = false): number {
  const MFD_CLOEXEC = 1;
  const MFD_EXEC = 0x10;
  if (executable) {
    const fd = libc().memfd_create(Buffer.from(`${name}\0`), MFD_CLOEXEC | MFD_EXEC);
    if (fd >= 0) return fd;
    if (errno() !== 22) throw new SysError("memfd_create", errno());
  }
  return check("memfd_create", libc().memfd_create(Buffer.from(`${name}\0`), MFD_CLOEXEC));
}

export function isatty(fd: number): boolean {
  return libc().isatty(fd) === 1;
}

export function openPath(path: string, flags: number): number {
  return check(`open ${path}`, libc().open(ptr(Buffer.from(`${path}\0`)), flags, 0));
}

export function ioctl(fd: number, request: number, arg: Uint8Array | null): number {
  return check("ioctl", libc().ioctl(fd, request, arg ? ptr(arg) : null));
}

/** The address of a typed array for the helper's spec; valid while `buf` is referenced. */
export function addressOf(buf: NodeJS.TypedArray | DataView, offset = 0): bigint {
  return BigInt(ptr(buf, offset));
}

export function cstring(addr: number): string {
  return new CString(addr as never).toString();
}

const TCGETS = 0x5401;
const TCSETS = 0x5402;
const TIOCGWINSZ = 0x5413;
const TIOCSWINSZ = 0x5414;

/** Copies the window size of terminal `from` to `to`; false if `from` has none. */
export function copyWinsize(from: number, to: number): boolean {
  const ws = new Uint8Array(8);
  if (libc().ioctl(from, TIOCGWINSZ, ptr(ws)) < 0) return false;
  return libc().ioctl(to, TIOCSWINSZ, ptr(ws)) === 0;
}

/** Puts a terminal in raw mode (as cfmakeraw); returns the saved state for restoreTerminal. */
export function makeRaw(fd: number): Uint8Array | null {
  const saved = new Uint8Array(60); // struct termios (kernel ABI, 60 bytes)
  if (libc().ioctl(fd, TCGETS, ptr(saved)) < 0) return null;
  const t = new Uint8Array(saved);
  const v = new DataView(t.buffer);
  const iflag = v.getUint32(0, true) & ~(0o1 | 0o2 | 0o10 | 0o40 | 0o100 | 0o200 | 0o400 | 0o2000); // IGNBRK BRKINT PARMRK ISTRIP INLCR IGNCR ICRNL IXON
  const oflag = v.getUint32(4, true) & ~0o1; // OPOST
  const cflag = (v.getUint32(8, true) & ~(0o60 | 0o400)) | 0o60; // CSIZE→CS8, PARENB off
  const lflag = v.getUint32(12, true) & ~(0o10 | 0o100 | 0o2 | 0o1 | 0o100000); // ECHO ECHONL ICANON ISIG IEXTEN
  v.setUint32(0, iflag, true);
  v.setUint32(4, oflag, true);
  v.setUint32(8, cflag, true);
  v.setUint32(12, lflag, true);
  t[17 + 6] = 1; // c_cc[VMIN]
  t[17 + 5] = 0; // c_cc[VTIME]
  if (libc().ioctl(fd, TCSETS, ptr(t)) < 0) return null;
  return saved;
}

export function restoreTerminal(fd: number, saved: Uint8Array): void {
  libc().ioctl(fd, TCSETS, ptr(saved));
}
