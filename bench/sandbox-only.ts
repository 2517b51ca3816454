// The startup benchmark's "sandbox code alone" row: what `cave run -- /bin/true` costs without
// cave's CLI, config file lookup and settings (bench/run.sh compiles this like dist/cave), so
// the report can tell the sandbox's own cost from the command line's. Same isolation as the
// cave-run row: every namespace, the overlay root, init; no cgroup limits, no seccomp filter.
import { runSandbox } from "../src/sandbox/run.ts";

const r = await runSandbox(
  {
    argv: ["/bin/true"],
    env: {},
    workdir: "/",
    hostname: "cave",
    rootfs: "/",
    binds: [],
    network: "none",
    diskBytes: 1024 ** 3,
    tty: false,
    rlimits: [
      { name: "nofile", value: 1024 },
      { name: "core", value: 0 },
    ],
  },
  { timeoutMs: 120_000, seccomp: null, keepCaps: 0n },
);
process.exit(r.exitCode);
