// The setup plan is pure: its order carries the sandbox's safety, so it is checked here
// without root (the integration suite proves the same plan against the kernel).
import { expect, test } from "bun:test";
import { buildPlan, NOBODY, NS, sandboxEnv, type HostFacts, type SandboxSpec } from "../../../src/sandbox/plan.ts";

const spec = (over: Partial<SandboxSpec> = {}): SandboxSpec => ({
  argv: ["true"],
  env: {},
  workdir: "/",
  hostname: "cave",
  rootfs: "/",
  binds: [],
  network: "none",
  diskBytes: 1 << 30,
  rlimits: [],
  ...over,
});
const host = (over: Partial<HostFacts> = {}): HostFacts => ({
  uid: 0,
  gid: 0,
  rootEntries: [
    { name: "usr", type: "dir" },
    { name: "bin", type: "symlink", target: "usr/bin" },
    { name: "proc", type: "dir" },
  ],
  bindIsDir: [],
  procPaths: new Set(["kcore", "sys", "acpi"]),
  ...over,
});
const steps = (p: ReturnType<typeof buildPlan>) => p.ops.map((o) => o.step);
const indexOf = (p: ReturnType<typeof buildPlan>, re: RegExp) => steps(p).findIndex((s) => re.test(s));

test("as root, every namespace but the user one is made by clone; the user namespace comes after the mounts", () => {
  const p = buildPlan(spec(), host());
  expect(p.privileged).toBe(true);
  expect(p.cloneFlags).toBe(NS.MOUNT | NS.PID | NS.UTS | NS.IPC | NS.NET);
  expect(indexOf(p, /pivot_root/)).toBeLessThan(indexOf(p, /enter the sandbox user namespace/));
  const userns = p.ops.find((o) => o.op.kind === "userns")?.op;
  expect(userns).toMatchObject({ uidMap: `0 ${NOBODY} 1`, gidMap: `0 ${NOBODY} 1` });
});

test("rootless, the user namespace comes first and the parent writes the caller's uid as root", () => {
  const p = buildPlan(spec(), host({ uid: 1000, gid: 1000 }));
  expect(p.cloneFlags & NS.USER).toBe(NS.USER);
  expect(p.syncs[0]).toEqual({ kind: "write-id-maps", uidMap: "0 1000 1", gidMap: "0 1000 1" });
  expect(p.ops[0]?.op.kind).toBe("sync");
});

test("--network host keeps the host's network namespace and does not touch lo", () => {
  const p = buildPlan(spec({ network: "host" }), host());
  expect(p.cloneFlags & NS.NET).toBe(0);
  expect(p.ops.some((o) => o.op.kind === "lo_up")).toBe(false);
});

test("bind sources are opened before the staging tmpfs can shadow them, and mounted only after pivot_root", () => {
  const p = buildPlan(spec({ binds: [{ src: "/tmp/src", dst: "/data", readOnly: true }] }), host({ bindIsDir: [true] }));
  const open = indexOf(p, /open bind source \/tmp\/src/);
  const stage = indexOf(p, /tmpfs that holds every write/);
  const pivot = indexOf(p, /pivot_root/);
  const move = indexOf(p, /bind \/tmp\/src on \/data/);
  expect(open).toBeGreaterThan(-1);
  expect(open).toBeLessThan(stage);
  expect(pivot).toBeLessThan(move);
  const lock = p.ops.find((o) => o.step.startsWith("lock bind mount of /tmp/src"))?.op;
  expect(lock).toMatchObject({ kind: "mount_setattr", set: 1 | 2 | 4, recursive: true });
});

test("the staging tmpfs is sized by the disk limit", () => {
  const p = buildPlan(spec({ diskBytes: 12345678 }), host());
  expect(p.ops.find((o) => o.op.kind === "mount" && o.op.fstype === "tmpfs" && o.op.target === "/tmp")?.op).toMatchObject({ data: "size=12345678,mode=0755" });
});

test("masked and read-only /proc paths are planned only where the kernel has them", () => {
  const p = buildPlan(spec(), host());
  expect(steps(p).filter((s) => /\/proc\//.test(s) && /mask|read-only/.test(s))).toEqual(["mask /proc/kcore", "mask /proc/acpi", "make /proc/sys read-only"]);
});

test("rootless: host entries are bound read-only one by one, symlinks recreated, /proc never taken from the host", () => {
  const p = buildPlan(spec(), host({ uid: 1000, gid: 1000 }));
  expect(steps(p)).toContain("bind /usr from the host");
  expect(steps(p)).toContain("make /usr read-only");
  expect(p.ops.find((o) => o.step === "link /bin")?.op).toEqual({ kind: "symlink", target: "usr/bin", path: "/tmp/root/bin" });
  expect(steps(p)).not.toContain("bind /proc from the host");
});

test("rlimits are set as the last setup steps, soft and hard alike", () => {
  const p = buildPlan(spec({ rlimits: [{ name: "nofile", value: 64 }] }), host());
  expect(p.ops.at(-1)).toEqual({ step: "set rlimit nofile=64", op: { kind: "setrlimit", resource: 7, soft: 64n, hard: 64n } });
});

test("a terminal is opened after the user switch and sized by the parent before the command starts", () => {
  const p = buildPlan(spec({ tty: true }), host());
  expect(p.ops.slice(-2).map((o) => o.op.kind)).toEqual(["pty", "sync"]);
  expect(p.syncs.at(-1)).toEqual({ kind: "size-terminal" });
});

test("the environment is clean and --env adds to it", () => {
  expect(sandboxEnv({ TERM: "xterm", SECRET: "x" }, { A: "1" })).toEqual({
    PATH: "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    HOME: "/root",
    TERM: "xterm",
    LANG: "C.UTF-8",
    A: "1",
  });
});
