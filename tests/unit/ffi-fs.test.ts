// ffi/fs.ts stands in for node:fs on `cave run`'s path: each call is checked against node:fs
// itself on real files, errors included (code and message), so callers may use either.
import { afterEach, describe, expect, test } from "bun:test";
import * as node from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as lite from "../../ffi/fs.ts";

const dirs: string[] = [];
function tempDir(): string {
  const d = node.mkdtempSync(join(tmpdir(), "cave-ffi-fs-"));
  dirs.push(d);
  return d;
}
afterEach(() => {
  for (const d of dirs.splice(0)) node.rmSync(d, { recursive: true, force: true });
});

/** What a call threw, as {code, message}, or null. */
function failure(f: () => unknown): { code: unknown; message: string } | null {
  try {
    f();
    return null;
  } catch (e) {
    return { code: (e as NodeJS.ErrnoException).code, message: (e as Error).message };
  }
}

describe("ffi/fs agrees with node:fs", () => {
  test("readFileSync reads regular files and size-0 proc files whole", () => {
    const d = tempDir();
    const big = "x".repeat(100_000);
    node.writeFileSync(join(d, "big"), big);
    expect(lite.readFileSync(join(d, "big"), "utf8")).toBe(big);
    expect(Buffer.from(lite.readFileSync(join(d, "big")))).toEqual(node.readFileSync(join(d, "big")));
    // /proc/self/mounts reports size 0 and is longer than one 4 KiB read on most hosts
    const mounts = lite.readFileSync("/proc/self/mounts", "utf8");
    expect(mounts.length).toBeGreaterThan(0);
    expect(mounts.split("\n")[0]).toBe(node.readFileSync("/proc/self/mounts", "utf8").split("\n")[0]!);
  });

  test("stat, lstat and fstat report what node:fs reports", () => {
    const d = tempDir();
    node.writeFileSync(join(d, "f"), "hello");
    node.chmodSync(join(d, "f"), 0o640);
    node.symlinkSync("f", join(d, "l"));
    for (const [ours, theirs] of [
      [lite.statSync(join(d, "f")), node.statSync(join(d, "f"))],
      [lite.lstatSync(join(d, "l")), node.lstatSync(join(d, "l"))],
      [lite.statSync(d), node.statSync(d)],
      [lite.statSync(process.execPath), node.statSync(process.execPath)],
    ] as const) {
      expect({
        mode: ours.mode,
        uid: ours.uid,
        gid: ours.gid,
        size: ours.size,
        dev: ours.dev,
        ino: Number(ours.ino),
      }).toEqual({
        mode: theirs.mode,
        uid: theirs.uid,
        gid: theirs.gid,
        size: theirs.size,
        dev: theirs.dev,
        ino: theirs.ino,
      });
      expect(Math.abs(ours.mtimeMs - theirs.mtimeMs)).toBeLessThan(0.001);
      expect([ours.isFile(), ours.isDirectory(), ours.isSymbolicLink()]).toEqual([
        theirs.isFile(),
        theirs.isDirectory(),
        theirs.isSymbolicLink(),
      ]);
    }
    const fd = lite.openSync(join(d, "f"), lite.constants.O_RDONLY);
    try {
      expect(lite.fstatSync(fd).size).toBe(5);
    } finally {
      lite.closeSync(fd);
    }
  });

  test("readdirSync lists the same entries with the same types", () => {
    const d = tempDir();
    node.mkdirSync(join(d, "sub"));
    node.writeFileSync(join(d, "file"), "");
    node.symlinkSync("/nowhere", join(d, "link"));
    const shape = (es: { name: string; isFile(): boolean; isDirectory(): boolean; isSymbolicLink(): boolean }[]) =>
      es.map((e) => [e.name, e.isFile(), e.isDirectory(), e.isSymbolicLink()]).sort();
    expect(shape(lite.readdirSync(d, { withFileTypes: true }))).toEqual(
      shape(node.readdirSync(d, { withFileTypes: true })),
    );
    expect(lite.readdirSync("/proc/self/fd").sort()).toEqual(expect.arrayContaining(["0", "1", "2"]));
    expect(lite.readdirSync(d).sort()).toEqual(node.readdirSync(d).sort());
  });

  test("readlink, access, exists, mkdir -p, rename, unlink, rmdir", () => {
    const d = tempDir();
    node.symlinkSync("../target", join(d, "l"));
    expect(lite.readlinkSync(join(d, "l"))).toBe(node.readlinkSync(join(d, "l")));
    expect(lite.existsSync(d)).toBe(true);
    expect(lite.existsSync(join(d, "missing"))).toBe(false);
    lite.mkdirSync(join(d, "a/b/c"), { recursive: true, mode: 0o700 });
    lite.mkdirSync(join(d, "a/b/c"), { recursive: true });
    expect(node.statSync(join(d, "a/b/c")).mode & 0o777).toBe(0o700);
    const fd = lite.openSync(
      join(d, "a/tmp"),
      lite.constants.O_WRONLY | lite.constants.O_CREAT | lite.constants.O_EXCL,
      0o600,
    );
    expect(lite.writeSync(fd, "héllo")).toBe(6);
    lite.closeSync(fd);
    lite.renameSync(join(d, "a/tmp"), join(d, "a/final"));
    expect(node.readFileSync(join(d, "a/final"), "utf8")).toBe("héllo");
    lite.unlinkSync(join(d, "a/final"));
    lite.rmdirSync(join(d, "a/b/c"));
    expect(node.existsSync(join(d, "a/b/c"))).toBe(false);
    // O_NOFOLLOW refuses a symlink (the seccomp cache relies on it), as with node:fs
    const flags = lite.constants.O_RDONLY | lite.constants.O_NOFOLLOW | lite.constants.O_NONBLOCK;
    expect(failure(() => lite.openSync(join(d, "l"), flags))?.code).toBe("ELOOP");
    expect(failure(() => node.openSync(join(d, "l"), flags))?.code).toBe("ELOOP");
  });

  test("errors carry node:fs's code and message", () => {
    const d = tempDir();
    node.writeFileSync(join(d, "file"), "");
    const cases: [string, () => unknown, () => unknown][] = [
      ["ENOENT on read", () => lite.readFileSync(join(d, "nope")), () => node.readFileSync(join(d, "nope"))],
      ["EISDIR on read", () => lite.readFileSync(d, "utf8"), () => node.readFileSync(d, "utf8")],
      ["EEXIST on mkdir", () => lite.mkdirSync(join(d, "file")), () => node.mkdirSync(join(d, "file"))],
      [
        "EEXIST on mkdir -p over a file",
        () => lite.mkdirSync(join(d, "file"), { recursive: true }),
        () => node.mkdirSync(join(d, "file"), { recursive: true }),
      ],
      ["ENOTDIR on readdir", () => lite.readdirSync(join(d, "file")), () => node.readdirSync(join(d, "file"))],
      ["ENOENT on stat", () => lite.statSync(join(d, "nope")), () => node.statSync(join(d, "nope"))],
      ["ENOTEMPTY on rmdir", () => lite.rmdirSync(d), () => node.rmdirSync(d)],
    ];
    for (const [what, ours, theirs] of cases) {
      const a = failure(ours);
      const b = failure(theirs);
      expect({ what, code: a?.code }).toEqual({ what, code: b?.code });
      expect(a?.message.split(",")[0]).toBe(b?.message.split(",")[0]);
    }
    expect(failure(() => lite.readFileSync(d, "utf8"))?.message).toBe("EISDIR: illegal operation on a directory, read");
  });
});
