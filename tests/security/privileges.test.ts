// Privilege inside the sandbox: root inside holds no capability in any set, cannot regain one
// through a setuid binary (nosuid mounts, no_new_privs, empty bounding set), runs under a seccomp
// filter, and --cap-add grants exactly the one capability asked for. And the other direction:
// a setuid binary the sandbox plants in a read-write bind must not give host users root.
import { afterEach, describe, expect, test } from "bun:test";
import { chmodSync, copyFileSync, rmSync, statSync } from "node:fs";
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

  test("a setuid bit set inside the sandbox (chmod 4755 in /tmp) is refused with EPERM, and the binary gains nothing either", async () => {
    const r = await probes.run(["sh", "-c", `export LC_ALL=C; cp ${PROBES}/whoami /tmp/w && chmod 4755 /tmp/w; exec /tmp/w`]);
    expect({ exitCode: r.exitCode, stderr: r.stderr, status: status(r) }).toEqual({
      exitCode: 0,
      stderr: "chmod: changing permissions of '/tmp/w': Operation not permitted\n",
      status: { uids: "0 0 0", gids: "0 0 0", ...sets(ZERO), NoNewPrivs: "1", Seccomp: "2" },
    });
  });

  test("with --seccomp none the setuid bit is set inside, and still gains nothing: /tmp is nosuid and no_new_privs is set", async () => {
    const script = `cp ${PROBES}/whoami /tmp/w && chmod 4755 /tmp/w && stat -c 'mode %a' /tmp/w && exec /tmp/w`;
    const r = await probes.run(["sh", "-c", script], ["--seccomp", "none"]);
    expect({ exitCode: r.exitCode, status: status(r) }).toEqual({
      exitCode: 0,
      status: { mode: "4755", uids: "0 0 0", gids: "0 0 0", ...sets(ZERO), NoNewPrivs: "1", Seccomp: "0" },
    });
  });

  test("a setuid or setgid binary planted in a read-write bind gives a host user nothing: run as nobody on the host it keeps uids and gids 65534", async () => {
    dir = tempDir("planted");
    // Root inside owns what it creates in the bind, and the bind is idmapped, so on the host
    // the files belong to uid 0. The host mount of the directory is not nosuid. (The payload,
    // whoami, only prints its ids: harmless even while the bits are set.) The seccomp filter
    // refuses every mode with S_ISUID or S_ISGID (chmod, fchmod, open, mknod, … : EPERM), so
    // each attempt fails and the files stay without the bits.
    const plant = [
      "export LC_ALL=C",
      "cp /probes/whoami /data/suid && chmod 4755 /data/suid",
      "cp /probes/whoami /data/sgid && chmod 2755 /data/sgid",
      "install -m 6755 /probes/whoami /data/both",
      "cp -p \"$(command -v su)\" /data/su",
    ].join("; ");
    const r = await probes.run(["sh", "-c", plant], ["--bind", `${dir}:/data`]);
    expect({ exitCode: r.exitCode, stderr: r.stderr }).toEqual({
      exitCode: 1,
      stderr: [
        "chmod: changing permissions of '/data/suid': Operation not permitted",
        "chmod: changing permissions of '/data/sgid': Operation not permitted",
        "install: cannot change permissions of '/data/both': Operation not permitted",
        "cp: preserving permissions for '/data/su': Operation not permitted",
        "",
      ].join("\n"),
    });
    // On the host: owned by root, as the hole needs, but with neither bit. (install gave up
    // with its file still 0600, cp -p with its copy 0700.)
    const modes = ["suid", "sgid", "both", "su"].map((name) => {
      const { uid, mode } = statSync(join(dir, name));
      return { name, uid, mode: (mode & 0o7777).toString(8) };
    });
    expect(modes).toEqual([
      { name: "suid", uid: 0, mode: "755" },
      { name: "sgid", uid: 0, mode: "755" },
      { name: "both", uid: 0, mode: "600" },
      { name: "su", uid: 0, mode: "700" },
    ]);
    // Run as nobody on the host, each whoami copy keeps nobody's ids; the 0600 one has no x bit
    // to run it by at all.
    const asHostNobody = ["suid", "sgid", "both"].map((name) => {
      const run = Bun.spawnSync(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", join(dir, name)], { stdin: "ignore", stderr: "pipe" });
      const { uids, gids } = status({ stdout: run.stdout.toString() });
      return { name, ran: uids ? { uids, gids } : run.stderr.toString().trim() };
    });
    const asNobody = { uids: "65534 65534 65534", gids: "65534 65534 65534" };
    expect(asHostNobody).toEqual([
      { name: "suid", ran: asNobody },
      { name: "sgid", ran: asNobody },
      { name: "both", ran: `setpriv: failed to execute ${join(dir, "both")}: Permission denied` },
    ]);
  });

  test("with --seccomp none the hole is open again: a setuid whoami planted in a read-write bind runs as the host's nobody with euid 0 (the known gap)", async () => {
    dir = tempDir("planted-none");
    const r = await probes.run(["sh", "-c", "cp /probes/whoami /data/suid && chmod 4755 /data/suid"], ["--seccomp", "none", "--bind", `${dir}:/data`]);
    // cave says so when it starts.
    expect({ exitCode: r.exitCode, stderr: r.stderr }).toEqual({
      exitCode: 0,
      stderr:
        "[warn] --seccomp none: no syscall filter; the kernel's whole surface is reachable, and the command can plant setuid/setgid files owned by the host's root in read-write binds\n",
    });
    const { uid, mode } = statSync(join(dir, "suid"));
    const out = Bun.spawnSync(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", join(dir, "suid")]).stdout.toString();
    expect({ uid, mode: (mode & 0o7777).toString(8), uids: status({ stdout: out }).uids }).toEqual({ uid: 0, mode: "4755", uids: "65534 0 0" });
  });

  test("the host's setuid su cannot switch users: it has no CAP_SETGID to set groups", async () => {
    const r = await probes.cave(["run", "--", "su", "-s", "/bin/sh", "nobody", "-c", "echo switched"]);
    expect(r).toEqual({ exitCode: 1, stdout: "", stderr: "su: cannot set groups: Operation not permitted\n" });
  });
});
