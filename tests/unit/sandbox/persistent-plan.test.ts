// The plans of persistent sandboxes, checked without root: a started sandbox is `cave run`'s
// layout on an ext4 image instead of a tmpfs, and exec joins a running one in a fixed order.
import { expect, test } from "bun:test";
import { isCaveError } from "../../../src/core/errors.ts";
import { buildExecPlan, buildPlan, NS, type ExecSpec, type HostFacts, type SandboxSpec } from "../../../src/sandbox/plan.ts";

const spec = (over: Partial<SandboxSpec> = {}): SandboxSpec => ({
  argv: [],
  env: {},
  workdir: "/",
  hostname: "cave",
  rootfs: "/",
  binds: [],
  network: "none",
  diskBytes: 64 << 20,
  rlimits: [],
  ...over,
});
const host: HostFacts = { uid: 0, gid: 0, rootEntries: [], bindIsDir: [], procPaths: new Set() };
const exec = (over: Partial<ExecSpec> = {}): ExecSpec => ({ argv: ["true"], env: {}, workdir: "/", network: "none", rlimits: [], ...over });

test("a persistent sandbox mounts its ext4 image where cave run mounts the tmpfs, and nothing else of the layout changes", () => {
  const run = buildPlan(spec(), host);
  const box = buildPlan(spec({ persistent: { device: "/dev/loop7" } }), host);
  const stage = box.ops.find((o) => o.op.kind === "mount" && o.op.target === "/tmp");
  expect(stage?.op).toEqual({ kind: "mount", src: "/dev/loop7", target: "/tmp", fstype: "ext4", flags: 2 | 4, data: null });
  expect(run.ops.some((o) => o.op.kind === "mount" && o.op.fstype === "ext4")).toBe(false);
  // The same steps in the same order, except that cave-init enters the user namespace itself
  // (after its exec, so that its memory belongs to the initial one), plus /dev/null as stdio.
  const kinds = (p: typeof run) => p.ops.map((o) => o.op.kind);
  const runKinds = kinds(run);
  const userns = runKinds.indexOf("setns");
  expect(runKinds.slice(userns, userns + 2)).toEqual(["setns", "setid"]);
  expect(kinds(box)).toEqual([...runKinds.slice(0, userns), "handoff", ...runKinds.slice(userns + 2), "devnull_stdio"]);
  expect(box.ops.find((o) => o.op.kind === "handoff")?.op).toEqual({ kind: "handoff", slot: 1 });
  expect(box.ops.at(-1)?.op).toEqual({ kind: "devnull_stdio", path: "/dev/null" });
  expect(box.cloneFlags).toBe(run.cloneFlags);
  expect(box.syncs).toEqual(run.syncs);
});

test("a restarted sandbox finds its staging directories: every mkdir on the image tolerates EEXIST", () => {
  const box = buildPlan(spec({ persistent: { device: "/dev/loop0" } }), host);
  const stageDirs = box.ops.filter((o) => o.op.kind === "mkdir" && o.op.path.startsWith("/tmp/") && !o.op.path.startsWith("/tmp/root/"));
  expect(stageDirs.map((o) => o.op.kind === "mkdir" && o.op.path)).toEqual(["/tmp/lower", "/tmp/upper", "/tmp/work", "/tmp/root", "/tmp/tmp", "/tmp/shm", "/tmp/home", "/tmp/proc"]);
  expect(stageDirs.every((o) => o.op.kind === "mkdir" && o.op.ignoreExist === true)).toBe(true);
});

test("exec joins the cgroup first, then the namespaces as real root, then the user namespace alone, then becomes root inside", () => {
  const p = buildExecPlan(exec({ rlimits: [{ name: "nofile", value: 1024 }] }), 42, true);
  expect(p.ops.map((o) => o.op)).toEqual([
    { kind: "sync" },
    { kind: "setns_fd", fd: 42, nstype: NS.MOUNT | NS.PID | NS.UTS | NS.IPC | NS.CGROUP | NS.NET },
    { kind: "setns_fd", fd: 42, nstype: NS.USER },
    { kind: "setid", uid: 0, gid: 0 },
    { kind: "setrlimit", resource: 7, soft: 1024n, hard: 1024n },
  ]);
  expect(p.syncs).toEqual([{ kind: "join-cgroup" }]);
  expect(p.cloneFlags).toBe(0);
});

test("with --network host the sandbox has no network namespace of its own to join", () => {
  const p = buildExecPlan(exec({ network: "host" }), 3, true);
  expect(p.ops[1]?.op).toEqual({ kind: "setns_fd", fd: 3, nstype: NS.MOUNT | NS.PID | NS.UTS | NS.IPC | NS.CGROUP });
});

test("exec into a sandbox without root is refused with SANDBOX_UNSUPPORTED", () => {
  let err: unknown;
  try {
    buildExecPlan(exec(), 3, false);
  } catch (e) {
    err = e;
  }
  expect(isCaveError(err) && err.code).toBe("SANDBOX_UNSUPPORTED");
});

test("exec in a terminal opens the pty as the sandbox's root, after the user switch, then lets the parent size it", () => {
  const p = buildExecPlan(exec({ tty: true }), 3, true);
  expect(p.ops.map((o) => o.op.kind)).toEqual(["sync", "setns_fd", "setns_fd", "setid", "pty", "sync"]);
  expect(p.syncs).toEqual([{ kind: "join-cgroup" }, { kind: "size-terminal" }]);
});
