// Builds the OCI bundle crun is benchmarked with: usage: bun bench/crun-bundle.ts DIR
// DIR/rootfs holds /bin/true, /bin/cat and /bin/sleep with the libraries ldd names (nothing else); the
// configs start from `crun spec` and are edited to match `cave run`'s isolation as near as
// OCI gets. One config per row, so every row runs the same rootfs:
//   bare.json     no cgroup limits, no seccomp        (run with --cgroup-manager=disabled)
//   seccomp.json  cave's default profile, as OCI JSON  (--cgroup-manager=disabled)
//   cgroup.json   no limits, no seccomp                (--cgroup-manager=cgroupfs: crun makes
//                 and joins a cgroup even when the config sets no limit)
//   limits.json   memory 1 GiB (no swap), pids 1024, cpu 200000/100000, no seccomp (cgroupfs)
//   full.json     limits and seccomp                   (cgroupfs)
//   check.json    as full.json, but cats the limit files: proof the limits were applied
//   exec.json     as full.json, but runs /bin/sleep infinity: the running target of `crun exec`
//                 (bench/exec.sh)
import { execFileSync } from "node:child_process";
import { copyFileSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
// The same data `cave run --seccomp default` compiles, so the two filters cannot drift apart.
import { type ArgCheck, DEFAULT_PROFILE, type SeccompAction } from "../src/core/seccomp-profiles.ts";

const dir = process.argv[2] ?? "";
if (!dir) throw new Error("usage: bun bench/crun-bundle.ts DIR");
const rootfs = join(dir, "rootfs");

// The binaries and every library the dynamic loader would map for them, at the same paths.
for (const bin of ["/bin/true", "/bin/cat", "/bin/sleep"]) {
  const libs = execFileSync("ldd", [bin], { encoding: "utf8" })
    .split("\n")
    .map((l) => l.match(/(\/\S+) \(0x/)?.[1])
    .filter((p): p is string => p !== undefined);
  for (const f of [bin, ...libs]) {
    mkdirSync(join(rootfs, dirname(f)), { recursive: true });
    copyFileSync(f, join(rootfs, f)); // follows symlinks: the loader's name gets the real file
  }
}
for (const d of ["proc", "dev", "sys", "tmp"]) mkdirSync(join(rootfs, d), { recursive: true });

execFileSync("crun", ["spec"], { cwd: dir });
// biome-ignore lint/suspicious/noExplicitAny: the OCI config is edited as plain JSON
const base: any = JSON.parse(readFileSync(join(dir, "config.json"), "utf8"));

base.process.terminal = false; // cave without a terminal: the benchmark has none
base.process.args = ["/bin/true"];
base.process.env = ["PATH=/usr/bin:/bin"];
// cave drops every capability before execve; crun spec would keep three.
for (const set of Object.keys(base.process.capabilities)) base.process.capabilities[set] = [];
base.process.noNewPrivileges = true;
base.root = { path: "rootfs", readonly: true };
base.hostname = "cave";
// cave's private /tmp (a tmpfs the size of --disk, 1 GiB by default).
base.mounts.push({ destination: "/tmp", type: "tmpfs", source: "tmpfs", options: ["nosuid", "nodev", "size=1g"] });
// gid 5 (tty) is not mapped in the user namespace below: devpts would fail with EINVAL.
for (const m of base.mounts) if (m.type === "devpts") m.options = m.options.filter((o: string) => o !== "gid=5");
// pid, network, ipc, uts, mount come from crun spec; cave also unshares cgroup and user.
base.linux.namespaces = ["pid", "network", "ipc", "uts", "mount", "cgroup", "user"].map((type) => ({ type }));
// As root, cave's root inside is nobody (65534) outside; the same mapping here.
base.linux.uidMappings = [{ containerID: 0, hostID: 65534, size: 1 }];
base.linux.gidMappings = [{ containerID: 0, hostID: 65534, size: 1 }];
// crun spec's one resource is "deny every device" (a devices-cgroup write on v1, an eBPF program
// on v2). cave has no devices cgroup (its /dev holds only safe nodes), so leave it out.
base.linux.resources = {};

const LIMITS = {
  memory: { limit: 1024 ** 3, swap: 1024 ** 3 }, // swap is memory+swap in OCI: equal means no swap
  pids: { limit: 1024 },
  cpu: { quota: 200000, period: 100000 }, // 2 CPUs, cave's --cpus default
};

const ARCH: Record<string, string> = { x64: "SCMP_ARCH_X86_64", arm64: "SCMP_ARCH_AARCH64" };
const OPS: Record<ArgCheck["op"], string> = {
  eq: "SCMP_CMP_EQ",
  ne: "SCMP_CMP_NE",
  lt: "SCMP_CMP_LT",
  le: "SCMP_CMP_LE",
  gt: "SCMP_CMP_GT",
  ge: "SCMP_CMP_GE",
  masked_eq: "SCMP_CMP_MASKED_EQ",
};
function action(a: SeccompAction): { action: string; errnoRet?: number } {
  switch (a.kind) {
    case "allow":
      return { action: "SCMP_ACT_ALLOW" };
    case "kill":
      return { action: "SCMP_ACT_KILL_PROCESS" };
    case "log":
      return { action: "SCMP_ACT_LOG" };
    case "errno":
      return { action: "SCMP_ACT_ERRNO", errnoRet: a.errno };
  }
}
const arch = ARCH[process.arch];
if (!arch) throw new Error(`no SCMP_ARCH for ${process.arch}`);
const def = action(DEFAULT_PROFILE.defaultAction);
const SECCOMP = {
  defaultAction: def.action,
  ...(def.errnoRet !== undefined ? { defaultErrnoRet: def.errnoRet } : {}),
  architectures: [arch], // native only, as cave's filter: other arches are killed
  syscalls: DEFAULT_PROFILE.rules.map((r) => ({
    names: [...r.names],
    ...action(r.action),
    ...(r.args
      ? {
          // OCI's masked_eq: (arg & value) == valueTwo
          args: r.args.map((c) =>
            c.op === "masked_eq"
              ? { index: c.index, value: c.mask, valueTwo: c.value, op: OPS[c.op] }
              : { index: c.index, value: c.value, op: OPS[c.op] },
          ),
        }
      : {}),
  })),
};

// biome-ignore lint/suspicious/noExplicitAny: as above
function variant(name: string, edit: (c: any) => void): void {
  const c = structuredClone(base);
  edit(c);
  writeFileSync(join(dir, `${name}.json`), `${JSON.stringify(c, null, 2)}\n`);
}
variant("bare", () => {});
variant("seccomp", (c) => {
  c.linux.seccomp = SECCOMP;
});
variant("cgroup", () => {});
variant("limits", (c) => {
  c.linux.resources = LIMITS;
});
variant("full", (c) => {
  c.linux.resources = LIMITS;
  c.linux.seccomp = SECCOMP;
});
const v2 = (() => {
  try {
    return readFileSync("/sys/fs/cgroup/cgroup.controllers", "utf8") !== undefined;
  } catch {
    return false;
  }
})();
variant("check", (c) => {
  c.linux.resources = LIMITS;
  c.linux.seccomp = SECCOMP;
  c.process.args = [
    "/bin/cat",
    ...(v2
      ? [
          "/sys/fs/cgroup/memory.max",
          "/sys/fs/cgroup/memory.swap.max",
          "/sys/fs/cgroup/pids.max",
          "/sys/fs/cgroup/cpu.max",
        ]
      : [
          "/sys/fs/cgroup/memory/memory.limit_in_bytes",
          "/sys/fs/cgroup/pids/pids.max",
          "/sys/fs/cgroup/cpu/cpu.cfs_quota_us",
          "/sys/fs/cgroup/cpu/cpu.cfs_period_us",
          "/proc/self/status",
        ]),
  ];
});
variant("exec", (c) => {
  c.linux.resources = LIMITS;
  c.linux.seccomp = SECCOMP;
  c.process.args = ["/bin/sleep", "infinity"];
});
console.log(`crun bundle in ${dir}: ${DEFAULT_PROFILE.rules.length} seccomp rules from cave's default profile`);
