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
import { parseSeccompAction } from "../../../schema/config.ts";
import { DEFAULT_PROFILE, STRICT_PROFILE } from "../../../src/core/seccomp-profiles.ts";

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
  seccomp: strict
  cap_add: [net_admin, CAP_SYS_PTRACE]
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
        seccomp: "strict",
        cap_add: ["net_admin", "CAP_SYS_PTRACE"],
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
        "(allowed: timeout, memory, cpus, pids, disk, network, hostname, workdir, rootfs, env, binds, rlimits, seccomp, cap_add)",
    });
  });

  test("db.max_rows takes a whole number of rows or none, and says so", () => {
    expect(loadConfigFile(configFile("db:\n  max_rows: 500\n")).db?.max_rows).toBe(500);
    expect(loadConfigFile(configFile("db:\n  max_rows: none\n")).db?.max_rows).toBe("none");
    for (const bad of ["0", "1.5", "all"]) {
      const path = configFile(`db:\n  max_rows: ${bad}\n`);
      const e = thrown(() => loadConfigFile(path));
      expect(e.code).toBe("CONFIG_INVALID");
      expect(e.message).toStartWith(`${path}:2:13: db.max_rows: `);
    }
  });

  test("rejects an unknown top-level section", () => {
    const path = configFile("runn:\n  memory: 1G\n");
    // The list grows as sections are added (auth, keys, webhooks…); run and db come first.
    expect(thrown(() => loadConfigFile(path)).message).toMatch(
      new RegExp(`^${path.replaceAll(".", "\\.")}:1:1: runn: unknown key; did you mean "run"\\? \\(allowed: run, db(, [a-z_]+)*\\)$`),
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
        `${path}:5:9: run.cpus: must be a number of CPUs like 0.5 or 2, or none, not true`,
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
      ":1:1: must be a mapping with run and db sections, not a list",
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
      seccomp: "default",
      capAdd: [],
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
      seccomp: { default: "allow", syscalls: [{ names: ["reboot"], action: "kill" }] },
      cap_add: ["net_raw"],
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
        seccomp: "strict",
        capAdd: ["CAP_NET_BIND_SERVICE"],
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
      seccomp: "strict",
      capAdd: ["CAP_NET_BIND_SERVICE", "CAP_NET_RAW"],
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
    settings.capAdd.push("CAP_KILL");
    expect([DEFAULTS.env, DEFAULTS.binds, DEFAULTS.rlimits, DEFAULTS.capAdd]).toEqual([
      {},
      [],
      { nofile: 1024, core: 0 },
      [],
    ]);
  });
});

describe("run.seccomp", () => {
  test("reads a built-in name from the file, and a custom profile into a SeccompProfile", () => {
    const custom = loadConfigFile(
      configFile(`run:
  seccomp:
    default: allow
    syscalls:
      - names: [ptrace, mount]
        action: errno EPERM
      - names: [reboot]
        action: kill
      - names: [kcmp]
        action: errno 38
      - names: [acct]
        action: log
`),
    ).run;
    expect([
      resolveRunSettings({ file: { seccomp: "strict" } }).seccomp,
      resolveRunSettings({ file: { seccomp: "none" } }).seccomp,
      resolveRunSettings({ file: custom }).seccomp,
    ]).toEqual([
      "strict",
      "none",
      {
        name: "cave.yaml run.seccomp",
        defaultAction: { kind: "allow" },
        rules: [
          { names: ["ptrace", "mount"], action: { kind: "errno", errno: 1 } },
          { names: ["reboot"], action: { kind: "kill" } },
          { names: ["kcmp"], action: { kind: "errno", errno: 38 } },
          { names: ["acct"], action: { kind: "log" } },
        ],
      },
    ]);
  });

  test("puts a base profile's rules first and inherits its default action unless one is given", () => {
    const landlock = { names: ["landlock_create_ruleset"], action: "allow" };
    const fromStrict = resolveRunSettings({ file: { seccomp: { base: "strict", syscalls: [landlock] } } }).seccomp;
    const fromDefault = resolveRunSettings({
      file: { seccomp: { base: "default", default: "log", syscalls: [{ names: ["sysfs"], action: "kill" }] } },
    }).seccomp;
    const baseOnly = resolveRunSettings({ file: { seccomp: { base: "default" } } }).seccomp;
    expect([fromStrict, fromDefault, baseOnly]).toEqual([
      {
        name: "cave.yaml run.seccomp",
        defaultAction: { kind: "errno", errno: 38 },
        rules: [...STRICT_PROFILE.rules, { names: ["landlock_create_ruleset"], action: { kind: "allow" } }],
      },
      {
        name: "cave.yaml run.seccomp",
        defaultAction: { kind: "log" },
        rules: [...DEFAULT_PROFILE.rules, { names: ["sysfs"], action: { kind: "kill" } }],
      },
      { name: "cave.yaml run.seccomp", defaultAction: { kind: "allow" }, rules: DEFAULT_PROFILE.rules },
    ]);
  });

  test("takes --seccomp over the file's profile, custom or not", () => {
    const file: CaveConfig["run"] = { seccomp: { default: "allow", syscalls: [] } };
    expect([
      resolveRunSettings({ file, flags: { seccomp: "none" } }).seccomp,
      resolveRunSettings({ file: { seccomp: "strict" }, flags: { seccomp: "default" } }).seccomp,
    ]).toEqual(["none", "default"]);
  });

  test("accepts only the built-in names as --seccomp", () => {
    expect(thrown(() => resolveRunSettings({ flags: { seccomp: "custom" } }))).toEqual({
      code: "USAGE",
      message:
        '--seccomp: invalid seccomp profile "custom": use default, strict or none (a custom profile goes under run.seccomp in cave.yaml)',
    });
  });

  test("reports a bad profile in an unvalidated config object as CONFIG_INVALID naming the key", () => {
    expect([
      thrown(() => resolveRunSettings({ file: { seccomp: "bogus" as "none" } })),
      thrown(() =>
        resolveRunSettings({ file: { seccomp: { default: "allow", syscalls: [{ names: ["x"], action: "deny" }] } } }),
      ),
    ]).toEqual([
      {
        code: "CONFIG_INVALID",
        message:
          'run.seccomp: invalid seccomp profile "bogus": use default, strict or none (a custom profile goes under run.seccomp in cave.yaml)',
      },
      {
        code: "CONFIG_INVALID",
        message:
          'run.seccomp.syscalls[0].action: invalid seccomp action "deny": use allow, kill, log or errno N (N from 1 to 4095, or a name like EPERM)',
      },
    ]);
  });

  test("names the file, line and key of every malformed part of a custom profile", () => {
    const path = configFile(`run:
  seccomp:
    default: deny
    base: relaxed
    syscalls:
      - names: []
        action: errno 0
      - names: [Ptrace, mount, 3]
        action: errno EPERMS
      - action: kill
      - names: reboot
      - names: [x]
        action: errno 4096
        args: []
    extra: 1
`);
    expect(thrown(() => loadConfigFile(path))).toEqual({
      code: "CONFIG_INVALID",
      message: [
        `${path}:3:14: run.seccomp.default: invalid seccomp action "deny": use allow, kill, log or errno N (N from 1 to 4095, or a name like EPERM)`,
        `${path}:4:11: run.seccomp.base: invalid base profile "relaxed": use default or strict`,
        `${path}:6:16: run.seccomp.syscalls[0].names: must name at least one syscall`,
        `${path}:7:17: run.seccomp.syscalls[0].action: invalid seccomp action "errno 0": errno must be from 1 to 4095`,
        `${path}:8:17: run.seccomp.syscalls[1].names[0]: invalid syscall name "Ptrace": use the kernel's name in lowercase letters, digits and _`,
        `${path}:8:32: run.seccomp.syscalls[1].names[2]: must be a string, not 3`,
        `${path}:9:17: run.seccomp.syscalls[1].action: invalid seccomp action "errno EPERMS": unknown errno name "EPERMS"; did you mean EPERM?`,
        `${path}:10:9: run.seccomp.syscalls[2]: missing key "names" (required: names, action)`,
        `${path}:11:9: run.seccomp.syscalls[3]: missing key "action" (required: names, action)`,
        `${path}:11:16: run.seccomp.syscalls[3].names: must be a list of syscall names, not "reboot"`,
        `${path}:13:17: run.seccomp.syscalls[4].action: invalid seccomp action "errno 4096": errno must be from 1 to 4095`,
        `${path}:14:9: run.seccomp.syscalls[4].args: unknown key (allowed: names, action)`,
        `${path}:15:5: run.seccomp.extra: unknown key (allowed: base, default, syscalls)`,
      ].join("\n"),
    });
  });

  test("says what run.seccomp must be when it is neither a known name nor a usable mapping", () => {
    const message = (yaml: string) => thrown(() => loadConfigFile(configFile(yaml))).message.replace(/^.*?:(?=\d)/, "");
    expect([
      message("run:\n  seccomp: strictest\n"),
      message("run:\n  seccomp: [default]\n"),
      message("run:\n  seccomp:\n"),
      message("run:\n  seccomp:\n    syscalls: [{ names: [reboot], action: kill }]\n"),
      message("run:\n  seccomp:\n    default: allow\n    syscalls: { names: [reboot] }\n"),
    ]).toEqual([
      '2:12: run.seccomp: invalid seccomp profile "strictest": use default, strict or none, or a mapping that defines a profile',
      "2:12: run.seccomp: must be default, strict, none or a mapping that defines a profile, not a list",
      "2:11: run.seccomp: is empty; remove it or put settings under it",
      "3:5: run.seccomp: needs default (the action for syscalls no rule names) or base (a built-in profile)",
      "4:15: run.seccomp.syscalls: must be a list of rules with names and action, not a mapping",
    ]);
  });
});

describe("parseSeccompAction", () => {
  test.each([
    ["allow", { kind: "allow" }],
    ["kill", { kind: "kill" }],
    ["log", { kind: "log" }],
    ["errno 1", { kind: "errno", errno: 1 }],
    ["errno 4095", { kind: "errno", errno: 4095 }],
    ["errno EPERM", { kind: "errno", errno: 1 }],
    ["errno ENOSYS", { kind: "errno", errno: 38 }],
    ["errno EWOULDBLOCK", { kind: "errno", errno: 11 }],
  ])("reads %p", (text, action) => {
    expect(parseSeccompAction(text)).toEqual(action as ReturnType<typeof parseSeccompAction>);
  });

  test.each([
    [
      "Allow",
      'invalid seccomp action "Allow": use allow, kill, log or errno N (N from 1 to 4095, or a name like EPERM)',
    ],
    [
      "errno",
      'invalid seccomp action "errno": use allow, kill, log or errno N (N from 1 to 4095, or a name like EPERM)',
    ],
    [
      "errno 1 2",
      'invalid seccomp action "errno 1 2": use allow, kill, log or errno N (N from 1 to 4095, or a name like EPERM)',
    ],
    ["errno -1", 'invalid seccomp action "errno -1": errno must be from 1 to 4095'],
    ["errno 0", 'invalid seccomp action "errno 0": errno must be from 1 to 4095'],
    ["errno eperm", 'invalid seccomp action "errno eperm": unknown errno name "eperm"; did you mean EPERM?'],
    ["errno EXYZZY", 'invalid seccomp action "errno EXYZZY": unknown errno name "EXYZZY"'],
    ["errno EPRM", 'invalid seccomp action "errno EPRM": unknown errno name "EPRM"; did you mean EPERM?'],
  ])("rejects %p with a message saying why", (text, message) => {
    expect(parseSeccompAction(text)).toBe(message);
  });
});

describe("run.cap_add and --cap-add", () => {
  test("reads names in any spelling, adds the flag's to the file's, orders them by number and drops repeats", () => {
    const file = loadConfigFile(configFile("run:\n  cap_add: [net_raw, CAP_CHOWN, Net_Raw]\n")).run;
    expect([
      resolveRunSettings({ file }).capAdd,
      resolveRunSettings({ file, flags: { capAdd: ["sys_ptrace", "CAP_CHOWN"] } }).capAdd,
      resolveRunSettings({ flags: { capAdd: "net_bind_service" } }).capAdd,
    ]).toEqual([
      ["CAP_CHOWN", "CAP_NET_RAW"],
      ["CAP_CHOWN", "CAP_NET_RAW", "CAP_SYS_PTRACE"],
      ["CAP_NET_BIND_SERVICE"],
    ]);
  });

  test("points at each unknown capability in the file and names a close match", () => {
    const path = configFile("run:\n  cap_add: [net_bind, sys_admn, foo, 5, NET_ADMIN]\n");
    expect(thrown(() => loadConfigFile(path))).toEqual({
      code: "CONFIG_INVALID",
      message: [
        `${path}:2:13: run.cap_add[0]: unknown capability "net_bind": did you mean CAP_NET_BIND_SERVICE?`,
        `${path}:2:23: run.cap_add[1]: unknown capability "sys_admn": did you mean CAP_SYS_ADMIN?`,
        `${path}:2:33: run.cap_add[2]: unknown capability "foo": use a name from capabilities(7) such as NET_BIND_SERVICE, with or without CAP_`,
        `${path}:2:38: run.cap_add[3]: must be a capability name like NET_BIND_SERVICE, not 5`,
      ].join("\n"),
    });
    expect(thrown(() => loadConfigFile(configFile("run:\n  cap_add: NET_ADMIN\n"))).message).toEndWith(
      ':2:12: run.cap_add: must be a list of capability names, not "NET_ADMIN"',
    );
  });

  test("rejects an unknown --cap-add as USAGE, and one in an unvalidated config object as CONFIG_INVALID", () => {
    expect([
      thrown(() => resolveRunSettings({ flags: { capAdd: ["CAP_NET_ADMIN", "setuids"] } })),
      thrown(() => resolveRunSettings({ file: { cap_add: ["bogus"] } })),
    ]).toEqual([
      { code: "USAGE", message: '--cap-add: unknown capability "setuids": did you mean CAP_SETUID?' },
      {
        code: "CONFIG_INVALID",
        message:
          'run.cap_add: unknown capability "bogus": use a name from capabilities(7) such as NET_BIND_SERVICE, with or without CAP_',
      },
    ]);
  });
});

describe("lifting a limit with none", () => {
  test("none for memory, cpus and pids means no limit, from a flag or the file", () => {
    const s = resolveRunSettings({ file: { memory: "none" }, flags: { cpus: "none", pids: "none" } });
    expect([s.memoryBytes, s.cpus, s.pids]).toEqual([Number.POSITIVE_INFINITY, Number.POSITIVE_INFINITY, Number.POSITIVE_INFINITY]);
  });

  test("none is not a disk size or a timeout: the tmpfs and the clock always bound a run", () => {
    expect(() => resolveRunSettings({ flags: { disk: "none" } })).toThrow('--disk: invalid size "none"');
    expect(() => resolveRunSettings({ flags: { timeout: "none" } })).toThrow('--timeout: invalid duration "none"');
  });
});
