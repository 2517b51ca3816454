// A disk cache of compiled seccomp programs. Compiling the default profile with libseccomp
// (dlopen, ~300 rules, export through a memfd) is a few milliseconds of every `cave run`;
// reading 1–2 KiB back is a fraction of one.
//
// Why a cached program is as trustworthy as a freshly compiled one:
// - Only this user can put a file there. The directory is $XDG_CACHE_HOME/cave (else
//   ~/.cache/cave, else /var/tmp/cave-<uid> when /var/tmp is root's and sticky, so nobody
//   else can swap it), /var/cache/cave for root; it is used only when it is a real directory
//   (not a symlink) owned by the effective uid with no group or other permissions, and a file
//   only when, opened with O_NOFOLLOW, it is a regular file owned by the effective uid with no
//   group or other permissions. Whoever else could write there (root, or this same uid) can
//   already run the command without a filter (`--seccomp none`) or trace cave itself.
// - The name and the header carry sha256 of everything the program depends on: the profile
//   (the built-in one's rules too, not only its name), cave's build (the executable's device,
//   inode, size and mtime, so any rebuild or upgrade misses), libseccomp's version and the
//   arch. A file renamed to another key fails the key check.
// - The header also carries the program's length (a whole number of 8-byte instructions, at
//   most BPF_MAXINSNS) and its sha256, so a torn or truncated file is never loaded.
// - Files are written to a unique temporary name (O_EXCL, mode 0600) and renamed into place,
//   so a reader sees either no file or a whole one.
// Anything unexpected is a miss: the profile is compiled as if there were no cache, and
// nothing is written where the checks failed.
import { closeSync, constants, fstatSync, lstatSync, mkdirSync, openSync, readdirSync, readSync, renameSync, statSync, unlinkSync, writeSync } from "../../../ffi/fs.ts";

const MAGIC = "CAVEBPF1";
const HEADER_SIZE = 80; // magic 8, key 32, length 4, reserved 4, program sha256 32
const INSN_SIZE = 8;
const MAX_INSNS = 4096;
/** Entries of other builds and profiles are removed this long after their last write. */
const MAX_AGE_MS = 30 * 24 * 3_600_000;

function sha256(...parts: (string | Uint8Array)[]): Uint8Array {
  const h = new Bun.CryptoHasher("sha256");
  for (const p of parts) h.update(p);
  return h.digest() as Uint8Array;
}

function hex(b: Uint8Array): string {
  let s = "";
  for (const x of b) s += x.toString(16).padStart(2, "0");
  return s;
}

function euid(): number {
  return process.geteuid?.() ?? 0;
}

/**
 * Where this user's cache may live, best first: $XDG_CACHE_HOME/cave, else ~/.cache/cave
 * (/var/cache/cave for root); then /var/tmp/cave-<uid>, for a user whose HOME is not theirs
 * (`setpriv` and `su` without a login keep the caller's).
 */
export function cacheDirs(env: NodeJS.ProcessEnv = process.env, uid = euid()): string[] {
  if (uid === 0) return ["/var/cache/cave"];
  const dirs: string[] = [];
  const xdg = env.XDG_CACHE_HOME;
  const home = env.HOME;
  if (xdg?.startsWith("/")) dirs.push(`${xdg.replace(/\/+$/, "")}/cave`);
  else if (home?.startsWith("/")) dirs.push(`${home.replace(/\/+$/, "")}/.cache/cave`);
  dirs.push(`/var/tmp/cave-${uid}`);
  return dirs;
}

/** The first of cacheDirs() that is usable (creating it if need be), or undefined. */
function usableDir(dirs: readonly string[], create: boolean): string | undefined {
  for (const dir of dirs) {
    if (dir.startsWith("/var/tmp/") && !stickyRootDir("/var/tmp")) continue;
    if (create) {
      try {
        mkdirSync(dir, { recursive: true, mode: 0o700 });
      } catch {
        continue;
      }
    }
    if (privateDir(dir)) return dir;
  }
  return undefined;
}

/** Whether `dir` is a directory (not a symlink) owned by us that nobody else may enter. */
function privateDir(dir: string): boolean {
  try {
    const st = lstatSync(dir);
    return st.isDirectory() && st.uid === euid() && (st.mode & 0o077) === 0;
  } catch {
    return false;
  }
}

/** A shared directory where nobody can rename or remove another user's entries. */
function stickyRootDir(dir: string): boolean {
  try {
    const st = lstatSync(dir);
    return st.isDirectory() && st.uid === 0 && (st.mode & 0o1000) !== 0;
  } catch {
    return false;
  }
}

/** What a compiled program depends on besides the profile: cave's build, libseccomp, the arch. */
export interface CacheContext {
  /** cacheDirs(), best first. */
  dirs: readonly string[];
  libseccomp: string;
}

/** The 32-byte key of a profile's program. */
function keyOf(profileJson: string, ctx: CacheContext): Uint8Array {
  // The executable identifies cave's build: compileProfile's code and the built-in profiles.
  const exe = statSync(process.execPath);
  const build = `${exe.dev}:${exe.ino}:${exe.size}:${exe.mtimeMs}`;
  return sha256(`${MAGIC}\0${build}\0libseccomp ${ctx.libseccomp}\0${process.platform}-${process.arch}\0`, profileJson);
}

function equal(a: Uint8Array, b: Uint8Array): boolean {
  if (a.byteLength !== b.byteLength) return false;
  for (let i = 0; i < a.byteLength; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** The cached program, or null on any miss (absent, foreign, damaged, for another key). */
function read(path: string, key: Uint8Array): Uint8Array | null {
  let fd: number;
  try {
    fd = openSync(path, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  } catch {
    return null;
  }
  try {
    const st = fstatSync(fd);
    if (!st.isFile() || st.uid !== euid() || (st.mode & 0o077) !== 0) return null;
    const size = st.size;
    if (size <= HEADER_SIZE || size > HEADER_SIZE + MAX_INSNS * INSN_SIZE) return null;
    const buf = new Uint8Array(size);
    let off = 0;
    while (off < size) {
      const n = readSync(fd, buf, off, size - off, off);
      if (n === 0) return null;
      off += n;
    }
    const view = new DataView(buf.buffer);
    const length = view.getUint32(40, true);
    if (new TextDecoder().decode(buf.subarray(0, 8)) !== MAGIC) return null;
    if (!equal(buf.subarray(8, 40), key)) return null;
    if (length !== size - HEADER_SIZE || length % INSN_SIZE !== 0 || view.getUint32(44, true) !== 0) return null;
    const program = buf.slice(HEADER_SIZE);
    if (!equal(buf.subarray(48, 80), sha256(program))) return null;
    return program;
  } catch {
    return null;
  } finally {
    closeSync(fd);
  }
}

function write(dirs: readonly string[], name: string, key: Uint8Array, program: Uint8Array): void {
  const dir = usableDir(dirs, true);
  if (!dir) return;
  const header = new Uint8Array(HEADER_SIZE);
  header.set(new TextEncoder().encode(MAGIC), 0);
  header.set(key, 8);
  new DataView(header.buffer).setUint32(40, program.byteLength, true);
  header.set(sha256(program), 48);
  const suffix = hex(crypto.getRandomValues(new Uint8Array(6)));
  const tmp = `${dir}/.${name}.${process.pid}.${suffix}.tmp`;
  let fd: number;
  try {
    fd = openSync(tmp, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o600);
  } catch {
    return;
  }
  try {
    try {
      for (const part of [header, program]) {
        let off = 0;
        while (off < part.byteLength) off += writeSync(fd, part, off);
      }
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, `${dir}/${name}`);
  } catch {
    try {
      unlinkSync(tmp);
    } catch {}
    return;
  }
  prune(dir, name);
}

/** Removes entries (and temporary files of crashed writers) not written for MAX_AGE_MS. */
function prune(dir: string, keep: string): void {
  const now = Date.now();
  try {
    for (const entry of readdirSync(dir)) {
      if (entry === keep || !(entry.endsWith(".bpf") || entry.endsWith(".tmp"))) continue;
      try {
        const path = `${dir}/${entry}`;
        const st = lstatSync(path);
        if (st.isFile() && now - st.mtimeMs > MAX_AGE_MS) unlinkSync(path);
      } catch {}
    }
  } catch {}
}

/**
 * The program for `profileJson` (a profile as JSON) from the cache, else `compile()`'s,
 * which is then stored. `context()` is asked only when the cache directory is usable.
 */
export function cachedProgram(profileJson: string, context: () => CacheContext | undefined, compile: () => Uint8Array): Uint8Array {
  let ctx: CacheContext | undefined;
  let key: Uint8Array | undefined;
  try {
    ctx = context();
    if (ctx) key = keyOf(profileJson, ctx);
  } catch {
    ctx = undefined;
  }
  if (!ctx || !key) return compile();
  const name = `${hex(key)}.bpf`;
  const dir = usableDir(ctx.dirs, false);
  const hit = dir ? read(`${dir}/${name}`, key) : null;
  if (hit) return hit;
  const program = compile();
  write(ctx.dirs, name, key, program);
  return program;
}
