// cave.yaml loading (messages that point at file, line and key) and the merge of
// defaults < config file < flags into RunSettings.
import { afterEach, describe, expect, test } from "bun:test";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  type CaveConfig,
  DEFAULTS,
  findProjectConfig,
  loadConfigFile,
  parseBind,
  parseEnvEntry,
  resolveRunSettings,
} from "../../../src/core/config.ts";
import { isCaveError } from "../../../src/core/errors.ts";

const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), "cave-config-"));
  dirs.push(dir);
  return dir;
}

/** Writes `text` to cave.yaml in a fresh temp dir and returns its path. */
function configFile(text: string): string {
  const path = join(tempDir(), "cave.yaml");
  writeFileSync(path, text);
  return path;
}

function thrown(fn: () => unknown): { code: string; message: string; hint?: string } {
  try {
    fn();
  } catch (e) {
    if (isCaveError(e))
      return e.hint === undefined
        ? { code: e.code, message: e.message }
        : { code: e.code, message: e.message, hint: e.hint };
    throw e;
  }
  throw new Error("expected a CaveError, but nothing was thrown");
}

const GiB = 1024 ** 3;
const MiB = 1024 ** 2;

describe("loadConfigFile", () => {
  test("returns every setting of a valid file as written", () => {
    const path = configFile(`
run:
  timeout: 90s
  memory: 512M
  cpus: "1.5"
  pids: 256
  disk: 2G
  network: host
  hostname: build-1
  workdir: /work
  rootfs: /srv/root
  env: { LANG: C.UTF-8, PORT: "8080" }
  binds: ["/src:/work", "/etc/ssl:/etc/ssl:ro"]
  rlimits: { nofile: 4096, nproc: 100, fsize: 1G, core: 0 }
`);
    expect(loadConfigFile(path)).toEqual({
      run: {
        timeout: "90s",
        memory: "512M",
        cpus: "1.5",
        pids: 256,
        disk: "2G",
        network: "host",
        hostname: "build-1",
        workdir: "/work",
        rootfs: "/srv/root",
        env: { LANG: "C.UTF-8", PORT: "8080" },
        binds: ["/src:/work", "/etc/ssl:/etc/ssl:ro"],
        rlimits: { nofile: 4096, nproc: 100, fsize: "1G", core: 0 },
      },
    });
  });

  test("reads an empty file or one with only comments as no settings", () => {
    expect([loadConfigFile(configFile("")), loadConfigFile(configFile("# nothing yet\n"))]).toEqual([{}, {}]);
  });

  test("names the file, line, column and key of a typo and suggests the right key", () => {
    const path = configFile("run:\n  memroy: 1G\n");
    expect(thrown(() => loadConfigFile(path))).toEqual({
      code: "CONFIG_INVALID",
      message:
        `${path}:2:3: run.memroy: unknown key; did you mean "memory"? ` +
        "(allowed: timeout, memory, cpus, pids, disk, network, hostname, workdir, rootfs, env, binds, rlimits)",
    });
  });

  test("rejects an unknown top-level section", () => {
    const path = configFile("runn:\n  memory: 1G\n");
    expect(thrown(() => loadConfigFile(path)).message).toBe(
      `${path}:1:1: runn: unknown key; did you mean "run"? (allowed: run)`,
    );
  });

  test("reports every bad value at once, in file order, with the accepted forms", () => {
    const path = configFile(`run:
  network: bridge
  memory: lots
  timeout: 200h
  cpus: true
  pids: 0
  hostname: my_host
  workdir: src
`);
    expect(thrown(() => loadConfigFile(path))).toEqual({
      code: "CONFIG_INVALID",
      message: [
        `${path}:2:12: run.network: invalid network "bridge": use none or host`,
        `${path}:3:11: run.memory: invalid size "lots": use a number of bytes or a value like 64k, 512M, 1.5G (K, M, G, T are powers of 1024)`,
        `${path}:4:12: run.timeout: invalid duration "200h": must be at most 7 days (168h)`,
        `${path}:5:9: run.cpus: must be a number of CPUs like 0.5 or 2, not true`,
        `${path}:6:9: run.pids: invalid pids 0: must be greater than zero`,
        `${path}:7:13: run.hostname: invalid hostname "my_host": use 1 to 63 letters, digits and -, not starting or ending with -`,
        `${path}:8:12: run.workdir: "src" is not an absolute path`,
      ].join("\n"),
    });
  });

  test("points at list items and map keys inside env, binds and rlimits", () => {
    const path = configFile(`run:
  env:
    1X: a
    PORT: 8080
  binds:
    - /a:/b
    - a:/c
    - /x:/b/
    - /d:/e:rx
  rlimits: { core: -1, nofile: 1.5 }
`);
    expect(thrown(() => loadConfigFile(path)).message).toBe(
      [
        `${path}:3:5: run.env["1X"]: invalid environment variable name "1X": use letters, digits and _, not starting with a digit`,
        `${path}:4:11: run.env.PORT: must be a string, not 8080; quote it in YAML`,
        `${path}:6:5: run.binds: destination "/b" is bound more than once`,
        `${path}:7:7: run.binds[1]: invalid bind "a:/c": source "a" is not an absolute path`,
        `${path}:9:7: run.binds[3]: invalid bind "/d:/e:rx": mode must be ro or rw, not "rx"`,
        `${path}:10:20: run.rlimits.core: invalid size -1: must not be negative`,
        `${path}:10:32: run.rlimits.nofile: invalid nofile 1.5: use a whole number greater than zero`,
      ].join("\n"),
    );
  });

  test("says what shape a section must have when it is a list, a scalar or empty", () => {
    expect(thrown(() => loadConfigFile(configFile("- a\n"))).message).toEndWith(
      ":1:1: must be a mapping with a run section, not a list",
    );
    expect(thrown(() => loadConfigFile(configFile("run: fast\n"))).message).toEndWith(
      ':1:6: run: must be a mapping of run settings, not "fast"',
    );
    expect(thrown(() => loadConfigFile(configFile("run:\n"))).message).toEndWith(
      ":1:5: run: is empty; remove it or put settings under it",
    );
    expect(thrown(() => loadConfigFile(configFile("run:\n  env: [A=1]\n"))).message).toEndWith(
      ":2:8: run.env: must be a mapping of NAME: value, not a list",
    );
  });

  test("reports a YAML syntax error with its line and column", () => {
    const path = configFile("run:\n  memory: 1G\n  memory: 2G\n");
    expect(thrown(() => loadConfigFile(path))).toEqual({
      code: "CONFIG_INVALID",
      message: `${path}:3:3: YAML syntax error: Map keys must be unique`,
    });
  });

  test("reports a missing file as CONFIG_NOT_FOUND with a hint", () => {
    const path = join(tempDir(), "nope.yaml");
    expect(thrown(() => loadConfigFile(path))).toEqual({
      code: "CONFIG_NOT_FOUND",
      message: `config file ${path} does not exist`,
      hint: "check the path, or leave it out to use ./cave.yaml of the current directory",
    });
  });

  test("reports a path that cannot be read as CONFIG_UNREADABLE", () => {
    const dir = tempDir();
    expect(thrown(() => loadConfigFile(dir))).toEqual({
      code: "CONFIG_UNREADABLE",
      message: `cannot read config file ${dir}: EISDIR: illegal operation on a directory, read`,
    });
  });
});

describe("findProjectConfig", () => {
  test("finds cave.yaml in the given directory", () => {
    const path = configFile("run: {}\n");
    expect(findProjectConfig(join(path, ".."))).toBe(path);
  });

  test("does not look in parent directories", () => {
    const parent = join(configFile("run: {}\n"), "..");
    const child = join(parent, "sub");
    mkdirSync(child);
    expect(findProjectConfig(child)).toBeUndefined();
  });
});

describe("parseBind", () => {
  test("reads SRC:DST as read-write and honours an explicit mode", () => {
    expect([parseBind("/src:/dst"), parseBind("/a:/b:ro"), parseBind("/a/:/b//c/:rw")]).toEqual([
      { src: "/src", dst: "/dst", readOnly: false },
      { src: "/a", dst: "/b", readOnly: true },
      { src: "/a", dst: "/b/c", readOnly: false },
    ]);
  });

  test.each([
    ["/a", 'invalid bind "/a": use SRC:DST or SRC:DST:ro|rw with absolute paths'],
    ["/a:/b:ro:x", 'invalid bind "/a:/b:ro:x": use SRC:DST or SRC:DST:ro|rw with absolute paths'],
    ["src:/dst", 'invalid bind "src:/dst": source "src" is not an absolute path'],
    ["/src:dst", 'invalid bind "/src:dst": destination "dst" is not an absolute path'],
    ["/src/../etc:/x", 'invalid bind "/src/../etc:/x": source "/src/../etc" must not contain ".." components'],
    ["/src:/x/..", 'invalid bind "/src:/x/..": destination "/x/.." must not contain ".." components'],
    ["/src:/", 'invalid bind "/src:/": destination must not be "/"; use rootfs to replace the root'],
    ["/a:/b:RO", 'invalid bind "/a:/b:RO": mode must be ro or rw, not "RO"'],
    ["/a\0b:/c", 'invalid bind "/a\\u0000b:/c": source "/a\\u0000b" contains a NUL byte'],
  ])("rejects %p with a message saying why", (spec, message) => {
    expect(thrown(() => parseBind(spec))).toEqual({ code: "USAGE", message });
  });
});

describe("parseEnvEntry", () => {
  test("splits at the first = so values may contain =", () => {
    expect([parseEnvEntry("A=1"), parseEnvEntry("OPTS=a=b"), parseEnvEntry("EMPTY=")]).toEqual([
      ["A", "1"],
      ["OPTS", "a=b"],
      ["EMPTY", ""],
    ]);
  });

  test("rejects an entry without = and a bad variable name", () => {
    expect([thrown(() => parseEnvEntry("FOO")), thrown(() => parseEnvEntry("1X=a", "CONFIG_INVALID"))]).toEqual([
      { code: "USAGE", message: 'invalid environment entry "FOO": use NAME=value' },
      {
        code: "CONFIG_INVALID",
        message: 'invalid environment variable name "1X": use letters, digits and _, not starting with a digit',
      },
    ]);
  });
});

describe("resolveRunSettings", () => {
  test("gives the defaults when there is neither a config file nor flags", () => {
    expect(resolveRunSettings()).toEqual({
      timeoutMs: 120_000,
      memoryBytes: GiB,
      cpus: 2,
      pids: 1024,
      diskBytes: GiB,
      network: "none",
      hostname: "cave",
      workdir: "/",
      env: {},
      binds: [],
      rlimits: { nofile: 1024, core: 0 },
    });
  });

  test("takes flags over the config file and the config file over the defaults", () => {
    const file: CaveConfig["run"] = {
      timeout: "90s",
      memory: "512M",
      cpus: 1,
      hostname: "from-file",
      env: { A: "file", B: "file" },
      binds: ["/data:/data:ro", "/src:/work"],
      rlimits: { nofile: 2048, fsize: "10M" },
    };
    const settings = resolveRunSettings({
      file,
      flags: {
        memory: "2G",
        pids: "64",
        network: "host",
        workdir: "/work",
        rootfs: "/srv/root",
        env: ["B=flag", "C=flag"],
        bind: ["/other:/work:ro"],
        rlimit: ["nofile=4096", "core=1M"],
      },
    });
    expect(settings).toEqual({
      timeoutMs: 90_000,
      memoryBytes: 2 * GiB,
      cpus: 1,
      pids: 64,
      diskBytes: GiB,
      network: "host",
      hostname: "from-file",
      workdir: "/work",
      rootfs: "/srv/root",
      env: { A: "file", B: "flag", C: "flag" },
      binds: [
        { src: "/data", dst: "/data", readOnly: true },
        { src: "/other", dst: "/work", readOnly: true },
      ],
      rlimits: { nofile: 4096, fsize: 10 * MiB, core: MiB },
    });
  });

  test("accepts a single string where a repeatable flag was given once", () => {
    const settings = resolveRunSettings({ flags: { env: "A=1", bind: "/a:/b", rlimit: "nproc=50" } });
    expect([settings.env, settings.binds, settings.rlimits]).toEqual([
      { A: "1" },
      [{ src: "/a", dst: "/b", readOnly: false }],
      { nofile: 1024, nproc: 50, core: 0 },
    ]);
  });

  test("accepts a 63-character hostname and rejects a 64-character one", () => {
    expect(resolveRunSettings({ flags: { hostname: "a".repeat(63) } }).hostname).toBe("a".repeat(63));
    expect(thrown(() => resolveRunSettings({ flags: { hostname: "a".repeat(64) } })).code).toBe("USAGE");
  });

  test("orders binds so a parent destination is mounted before the paths inside it", () => {
    const settings = resolveRunSettings({
      file: { binds: ["/cache:/work/cache", "/x:/opt/x/y"] },
      flags: { bind: ["/src:/work", "/opt:/opt"] },
    });
    expect(settings.binds.map((b) => b.dst)).toEqual(["/work", "/opt", "/work/cache", "/opt/x/y"]);
  });

  test.each([
    [
      "--memory lots",
      { memory: "lots" },
      '--memory: invalid size "lots": use a number of bytes or a value like 64k, 512M, 1.5G (K, M, G, T are powers of 1024)',
    ],
    [
      "--timeout abc",
      { timeout: "abc" },
      '--timeout: invalid duration "abc": use a number of seconds or a value like 500ms, 90s, 2m, 1h, 1m30s',
    ],
    ["--cpus 0", { cpus: "0" }, '--cpus: invalid cpus "0": must be between 0.01 and 1024'],
    ["--pids 5000000", { pids: "5000000" }, '--pids: invalid pids "5000000": must be at most 4194304'],
    ["--disk 0", { disk: "0" }, '--disk: invalid size "0": must be greater than zero'],
    ["--network bridge", { network: "bridge" }, '--network: invalid network "bridge": use none or host'],
    [
      "--hostname -x",
      { hostname: "-x" },
      '--hostname: invalid hostname "-x": use 1 to 63 letters, digits and -, not starting or ending with -',
    ],
    ["--workdir src", { workdir: "src" }, '--workdir: "src" is not an absolute path'],
    ["--rootfs /a/../b", { rootfs: "/a/../b" }, '--rootfs: "/a/../b" must not contain ".." components'],
    ["--env X", { env: ["X"] }, '--env: invalid environment entry "X": use NAME=value'],
    [
      "--env 1X=a",
      { env: ["1X=a"] },
      '--env: invalid environment variable name "1X": use letters, digits and _, not starting with a digit',
    ],
    [
      "--env with a NUL",
      { env: ["A=x\0"] },
      '--env: invalid environment entry "A=x\\u0000": the value must not contain a NUL byte',
    ],
    ["--bind /a:b", { bind: ["/a:b"] }, '--bind: invalid bind "/a:b": destination "b" is not an absolute path'],
    ["--bind twice to /x", { bind: ["/a:/x", "/b:/x/"] }, '--bind: destination "/x" is bound more than once'],
    [
      "--rlimit stack=1M",
      { rlimit: ["stack=1M"] },
      '--rlimit: invalid "stack=1M": use NAME=VALUE with NAME one of nofile, nproc, fsize, core',
    ],
    [
      "--rlimit nofile",
      { rlimit: ["nofile"] },
      '--rlimit: invalid "nofile": use NAME=VALUE with NAME one of nofile, nproc, fsize, core',
    ],
    [
      "--rlimit fsize=1.1k",
      { rlimit: ["fsize=1.1k"] },
      '--rlimit fsize: invalid size "1.1k": not a whole number of bytes',
    ],
  ] as const)("rejects %s as USAGE with a message naming the flag", (_, flags, message) => {
    expect(thrown(() => resolveRunSettings({ flags }))).toEqual({ code: "USAGE", message });
  });

  test("reports a bad value in an unvalidated config object as CONFIG_INVALID naming the key", () => {
    expect(thrown(() => resolveRunSettings({ file: { memory: "lots" } }))).toEqual({
      code: "CONFIG_INVALID",
      message:
        'run.memory: invalid size "lots": use a number of bytes or a value like 64k, 512M, 1.5G (K, M, G, T are powers of 1024)',
    });
  });

  test("returns fresh objects, so changing the result cannot change DEFAULTS", () => {
    const settings = resolveRunSettings();
    settings.env.X = "1";
    settings.binds.push({ src: "/a", dst: "/b", readOnly: true });
    settings.rlimits.nofile = 1;
    expect([DEFAULTS.env, DEFAULTS.binds, DEFAULTS.rlimits]).toEqual([{}, [], { nofile: 1024, core: 0 }]);
  });
});
