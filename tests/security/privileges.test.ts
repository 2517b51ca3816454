// Privilege inside the sandbox: root inside holds no capability in any set, cannot regain one
// through a setuid binary (nosuid mounts, no_new_privs, empty bounding set), runs under a seccomp
// filter, and --cap-add grants exactly the one capability asked for. And the other direction:
// a setuid binary the sandbox plants in a read-write bind must not give host users root.
import { afterEach, describe, expect, test } from "bun:test";
import { chmodSync, copyFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { PROBES, results, tempDir, useProbes } from "./harness.ts";

const probes = useProbes("whoami");

const ZERO = "0000000000000000";
const sets = (value: string) => ({ CapInh: ZERO, CapPrm: value, CapEff: value, CapBnd: value, CapAmb: ZERO });
/** whoami's lines as a map: "uids 0 0 0", "CapEff 0000…", "NoNewPrivs 1", … */
const status = (r: { stdout: string }): Record<string, string> => results(r.stdout.replaceAll(":", ""));

describe("capabilities, no_new_privs and seccomp", () => {
  test("the command holds no capability in any set (CapInh/Prm/Eff/Bnd/Amb are all zero)", async () => {
    const r = await probes.run([`${PROBES}/whoami`]);
    expect({ exitCode: r.exitCode, stderr: r.stderr, status: status(r) }).toEqual({
      exitCode: 0,
      stderr: "",
      status: { uids: "0 0 0", gids: "0 0 0", ...sets(ZERO), NoNewPrivs: "1", Seccomp: "2" },
    });
  });

  test("no_new_privs is set and the seccomp mode is 2 (filter)", async () => {
    const r = await probes.cave(["run", "--", "grep", "-E", "^(NoNewPrivs|Seccomp):", "/proc/self/status"]);
    expect(r).toEqual({ exitCode: 0, stdout: "NoNewPrivs:\t1\nSeccomp:\t2\n", stderr: "" });
  });

  test("--cap-add NET_BIND_SERVICE grants exactly bit 10 in the permitted, effective and bounding sets", async () => {
    const r = await probes.run([`${PROBES}/whoami`], ["--cap-add", "NET_BIND_SERVICE"]);
    expect({ exitCode: r.exitCode, stderr: r.stderr, status: status(r) }).toEqual({
      exitCode: 0,
      stderr: "",
      status: { uids: "0 0 0", gids: "0 0 0", ...sets("0000000000000400"), NoNewPrivs: "1", Seccomp: "2" },
    });
  });
});

describe("setuid binaries", () => {
  let dir: string;
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  /** A host dir with a setuid-root and a setgid-root copy of the whoami probe. */
  function setuidCopies(): string {
    dir = tempDir("setuid");
    for (const [name, mode] of [
      ["whoami-suid", 0o4755],
      ["whoami-sgid", 0o2755],
    ] as const) {
      copyFileSync(join(probes.dir(), "whoami"), join(dir, name));
      chmodSync(join(dir, name), mode);
    }
    return dir;
  }

  test("the setuid copy works on the host: run as nobody it gets euid 0 and every capability (the control)", () => {
    const bin = join(setuidCopies(), "whoami-suid");
    const out = Bun.spawnSync(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", bin]).stdout.toString();
    expect(status({ stdout: out })).toMatchObject({ uids: "65534 0 0", NoNewPrivs: "0" });
    expect(status({ stdout: out }).CapEff).not.toBe(ZERO);
  });

  test("a setuid-root or setgid-root binary bound in gains nothing: uids stay 0 0 0 inside and every capability set stays zero", async () => {
    const src = setuidCopies();
    for (const name of ["whoami-suid", "whoami-sgid"]) {
      const r = await probes.cave(["run", "--bind", `${src}:/suid:ro`, "--", `/suid/${name}`]);
      expect({ name, exitCode: r.exitCode, stderr: r.stderr, status: status(r) }).toEqual({
        name,
        exitCode: 0,
        stderr: "",
        status: { uids: "0 0 0", gids: "0 0 0", ...sets(ZERO), NoNewPrivs: "1", Seccomp: "2" },
      });
    }
  });

  test("a setuid bit set inside the sandbox (chmod 4755 in /tmp) gains nothing either", async () => {
    const r = await probes.run(["sh", "-c", `cp ${PROBES}/whoami /tmp/w && chmod 4755 /tmp/w && exec /tmp/w`]);
    expect({ exitCode: r.exitCode, stderr: r.stderr, status: status(r) }).toEqual({
      exitCode: 0,
      stderr: "",
      status: { uids: "0 0 0", gids: "0 0 0", ...sets(ZERO), NoNewPrivs: "1", Seccomp: "2" },
    });
  });

  test("a setuid or setgid binary planted in a read-write bind gives a host user nothing: run as nobody on the host it keeps uids and gids 65534", async () => {
    dir = tempDir("planted");
    // Root inside owns what it creates in the bind, and the bind is idmapped, so on the host
    // the files belong to uid 0. The host mount of the directory is not nosuid. (The payload,
    // whoami, only prints its ids: harmless even while the bits are set.)
    const plant = [
      "cp /probes/whoami /data/suid && chmod 4755 /data/suid",
      "cp /probes/whoami /data/sgid && chmod 2755 /data/sgid",
      "install -m 6755 /probes/whoami /data/both",
    ].join("; ");
    const r = await probes.run(["sh", "-c", plant], ["--bind", `${dir}:/data`]);
    expect({ exitCode: r.exitCode, stderr: r.stderr }).toEqual({ exitCode: 0, stderr: "" });
    const asHostNobody = ["suid", "sgid", "both"].map((name) => {
      const out = Bun.spawnSync([
        "setpriv",
        "--reuid=65534",
        "--regid=65534",
        "--clear-groups",
        join(dir, name),
      ]).stdout.toString();
      const { uids, gids } = status({ stdout: out });
      return { name, uids, gids };
    });
    expect(asHostNobody).toEqual(
      ["suid", "sgid", "both"].map((name) => ({ name, uids: "65534 65534 65534", gids: "65534 65534 65534" })),
    );
  });

  test("the host's setuid su cannot switch users: it has no CAP_SETGID to set groups", async () => {
    const r = await probes.cave(["run", "--", "su", "-s", "/bin/sh", "nobody", "-c", "echo switched"]);
    expect(r).toEqual({ exitCode: 1, stdout: "", stderr: "su: cannot set groups: Operation not permitted\n" });
  });
});
