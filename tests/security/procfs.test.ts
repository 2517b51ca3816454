// Escape and leaks through /proc and /sys: host-wide sysctls (core_pattern runs a program as host
// root on the next crash, binfmt_misc registers an interpreter, drop_caches disturbs every
// tenant), sysfs knobs, and /proc files that show host state (other users' keys, kernel
// addresses, timers, physical pages) or poke the kernel (sysrq-trigger).
import { describe, expect, test } from "bun:test";
import { existsSync, readFileSync } from "node:fs";
import { hostname } from "node:os";
import { marker } from "../helpers/cave.ts";
import { clean, each, outcome, PROBES, useProbes } from "./harness.ts";

const probes = useProbes("fileops", "hostkey");
const fileops = async (ops: string[]) => outcome(await probes.run([`${PROBES}/fileops`, ...ops]));
const hostValue = (path: string) => readFileSync(path, "utf8").trim();

/** The uid that is root inside the sandbox when cave runs as root. */
const NOBODY = 65534;
const asNobody = (argv: string[]) =>
  Bun.spawnSync(["setpriv", `--reuid=${NOBODY}`, `--regid=${NOBODY}`, "--clear-groups", ...argv], { stderr: "pipe" });

describe("/proc/sys and /sys", () => {
  test("host-wide sysctls (core_pattern, drop_caches, ip_forward, hostname) refuse writes with EACCES and keep their host values", async () => {
    // Each write offers the host's current value where that is global, so even a write that got
    // through would change nothing.
    const corePattern = hostValue("/proc/sys/kernel/core_pattern");
    const ipForward = hostValue("/proc/sys/net/ipv4/ip_forward");
    const ops = [
      `write:/proc/sys/kernel/core_pattern=${corePattern}`,
      "write:/proc/sys/vm/drop_caches=1",
      `write:/proc/sys/net/ipv4/ip_forward=${ipForward}`,
      "write:/proc/sys/kernel/hostname=evil",
    ];
    expect(await fileops(ops)).toEqual(clean(each(ops, "EACCES")));
    expect([
      hostValue("/proc/sys/kernel/core_pattern"),
      hostValue("/proc/sys/net/ipv4/ip_forward"),
      hostname(),
    ]).toEqual([corePattern, ipForward, hostname()]);
  });

  test("/proc/sys is a read-only mount and binfmt_misc is not mounted in it: register is ENOENT", async () => {
    expect(
      await fileops(["statvfs:/proc/sys", "write:/proc/sys/fs/binfmt_misc/register=:cave:E::cave::/tmp/x:"]),
    ).toEqual(
      clean({ "statvfs:/proc/sys": "ro", "write:/proc/sys/fs/binfmt_misc/register=:cave:E::cave::/tmp/x:": "ENOENT" }),
    );
  });

  test("/sys is read-only: writes to sysfs knobs get EROFS", async () => {
    const knobs = [
      "/sys/kernel/mm/transparent_hugepage/enabled",
      "/sys/class/net/lo/mtu",
      "/sys/kernel/uevent_helper",
      "/sys/kernel/profiling",
    ].filter((p) => existsSync(p));
    // lo's mtu is the sandbox's own loopback; the others offer the host's current value back.
    const ops = knobs.map((p) => `write:${p}=${p.endsWith("/mtu") ? "1280" : currentChoice(hostValue(p))}`);
    expect(await fileops(["statvfs:/sys", ...ops])).toEqual(clean({ "statvfs:/sys": "ro", ...each(ops, "EROFS") }));
  });

  test("/sys/fs/cgroup holds no cgroup files: the sandbox cannot raise its own limits", async () => {
    const r = await fileops([
      "list:/sys/fs/cgroup",
      "write:/sys/fs/cgroup/memory.max=max",
      "write:/sys/fs/cgroup/pids.max=max",
      "write:/sys/fs/cgroup/memory/memory.limit_in_bytes=-1",
    ]);
    expect(r).toEqual(
      clean({
        "list:/sys/fs/cgroup": "ok",
        "write:/sys/fs/cgroup/memory.max=max": "ENOENT",
        "write:/sys/fs/cgroup/pids.max=max": "ENOENT",
        "write:/sys/fs/cgroup/memory/memory.limit_in_bytes=-1": "ENOENT",
      }),
    );
  });
});

/** "always [madvise] never" → "madvise": the active choice of a sysfs multiple-choice knob. */
function currentChoice(value: string): string {
  return /\[([^\]]+)\]/.exec(value)?.[1] ?? value;
}

describe("masked /proc files", () => {
  // Only those this kernel has: a fresh /proc inside has the same files as the host's.
  const files = [
    "kcore",
    "keys",
    "kallsyms",
    "timer_list",
    "sched_debug",
    "kpagecount",
    "kpageflags",
    "kpagecgroup",
    "config.gz",
    "latency_stats",
    "timer_stats",
  ].filter((f) => existsSync(`/proc/${f}`));
  const dirs = ["acpi", "asound", "scsi", "driver"].filter((d) => existsSync(`/proc/${d}`));

  test("the /proc files that leak host state or poke the kernel (kcore, keys, kallsyms, timer_list, kpage*, …) are /dev/null: they read empty", async () => {
    const r = await probes.run([
      "sh",
      "-c",
      `${PROBES}/fileops ${files.map((f) => `read:/proc/${f}`).join(" ")}; for f in ${files.join(" ")}; do echo "$f $(stat -c '%F %t:%T' /proc/$f)"; done`,
    ]);
    expect(outcome(r)).toEqual(
      clean({
        ...each(
          files.map((f) => `read:/proc/${f}`),
          "ok 0",
        ),
        ...each(files, "character special file 1:3"),
      }),
    );
  });

  test.skipIf(dirs.length === 0)(
    "the /proc directories that list host hardware (acpi, asound, scsi, driver) are empty read-only mounts (skipped where the kernel has none of them)",
    async () => {
      const list = dirs.map((d) => `list:/proc/${d}`);
      const statvfs = dirs.map((d) => `statvfs:/proc/${d}`);
      expect(await fileops([...list, ...statvfs])).toEqual(clean({ ...each(list, "ok"), ...each(statvfs, "ro") }));
    },
  );

  test("a key held by the host's nobody user (root inside) is not listed in /proc/keys", async () => {
    const name = marker();
    // The control: as the host's nobody, the key is there to be seen.
    expect(asNobody([`${probes.dir()}/hostkey`, "add", name]).stdout.toString()).toStartWith("added ");
    try {
      expect(asNobody(["cat", "/proc/keys"]).stdout.toString()).toContain(` ${name}: `);
      const r = await probes.cave([
        "run",
        "--",
        "sh",
        "-c",
        `cat /proc/keys; echo "listed $(grep -c ${name} /proc/keys)"`,
      ]);
      expect(r).toEqual({ exitCode: 0, stdout: "listed 0\n", stderr: "" });
    } finally {
      expect(asNobody([`${probes.dir()}/hostkey`, "remove", name]).stdout.toString()).toBe("removed\n");
    }
  });

  test.skipIf(!existsSync("/proc/sysrq-trigger"))(
    "a write to /proc/sysrq-trigger goes to /dev/null (skipped where the kernel has no magic SysRq)",
    async () => {
      // "h" only prints help to the kernel log, should the mask ever be missing.
      const r = await probes.run([
        "sh",
        "-c",
        `${PROBES}/fileops write:/proc/sysrq-trigger=h; echo "sysrq $(stat -c '%F %t:%T' /proc/sysrq-trigger)"`,
      ]);
      expect(outcome(r)).toEqual(clean({ "write:/proc/sysrq-trigger=h": "ok", sysrq: "character special file 1:3" }));
    },
  );
});
