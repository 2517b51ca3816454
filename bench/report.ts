// Turns bench/results/*.json (hyperfine + machine facts) into docs/benchmarks.md, so the
// doc always shows the numbers of one real run and can't drift from them by hand-editing.
// Usage: bun bench/report.ts RESULTS_DIR DOC_PATH
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";

/** The part of one hyperfine result we use; times are in seconds. */
interface Result {
  command: string;
  median: number;
  mean: number;
  stddev: number | null;
  min: number;
  max: number;
  times: number[];
}

/** cave's median may be at most this many times bwrap's: the project's startup target. */
const TARGET_RATIO = 2;

const LABEL: Record<string, string> = {
  true: "`/bin/true` (floor)",
  "bun-noop": "Bun compiled no-op",
  "cave-version": "`cave version`",
  "cave-sandbox": "cave's sandbox code alone (`bench/sandbox-only.ts`: no CLI, no config) `/bin/true`",
  "cave-run": "**`cave run` (namespaces, overlay root, init; no cgroup, no seccomp) `-- /bin/true`**",
  bwrap: "bwrap `--unshare-all` …",
  unshare: "`unshare` all namespaces",
  "cave-bare": "cave bare: `--seccomp none --memory none --cpus none --pids none`",
  "cave-seccomp": "cave seccomp only: `--memory none --cpus none --pids none`",
  "cave-limits": "cave limits only: `--seccomp none`",
  "cave-full": "**cave full (defaults)**",
  "crun-bare": "crun bare: no cgroup (`--cgroup-manager=disabled`), no seccomp",
  "crun-seccomp": "crun seccomp only (`--cgroup-manager=disabled`)",
  "crun-cgroup": "crun cgroup, no limits set, no seccomp (cgroupfs)",
  "crun-limits": "crun limits only (cgroupfs)",
  "crun-full": "**crun limits + seccomp** (cgroupfs)",
};

const [dir, docPath] = process.argv.slice(2);
if (!dir || !docPath) throw new Error("usage: bun bench/report.ts RESULTS_DIR DOC_PATH");

const machine = JSON.parse(readFileSync(join(dir, "machine.json"), "utf8")) as Record<string, string | number>;
const load = (name: string): Result[] =>
  existsSync(join(dir, name))
    ? (JSON.parse(readFileSync(join(dir, name), "utf8")) as { results: Result[] }).results
    : [];
const root = load("startup-root.json");
const rootless = load("startup-rootless.json");
const skippedPath = join(dir, "rootless-skipped.txt");
const skipped = existsSync(skippedPath) ? readFileSync(skippedPath, "utf8").split("\n").filter(Boolean) : [];

/** The rounds of hardening.sh (or exec.sh) merged: every round's times of a command, statistics recomputed. */
function mergeRounds(pattern = /^hardening-\d+\.json$/): Result[] {
  const names = readdirSync(dir ?? ".").filter((f) => pattern.test(f));
  const times = new Map<string, number[]>();
  for (const f of names) for (const r of load(f)) times.set(r.command, [...(times.get(r.command) ?? []), ...r.times]);
  return [...times].map(([command, t]) => {
    const s = [...t].sort((a, b) => a - b);
    const mean = t.reduce((a, b) => a + b, 0) / t.length;
    const sd = t.length > 1 ? Math.sqrt(t.reduce((a, b) => a + (b - mean) ** 2, 0) / (t.length - 1)) : null;
    const mid = Math.floor(s.length / 2);
    const med = s.length % 2 ? (s[mid] as number) : ((s[mid - 1] as number) + (s[mid] as number)) / 2;
    return { command, median: med, mean, stddev: sd, min: s[0] as number, max: s[s.length - 1] as number, times: t };
  });
}
/** The standard deviation of a row's round medians, averaged over rows (ms), and the number of rounds. */
function roundSpread(): { sd: number; rounds: number } | undefined {
  const files = readdirSync(dir ?? ".").filter((f) => /^hardening-\d+\.json$/.test(f));
  if (files.length < 2) return undefined;
  const byCmd = new Map<string, number[]>();
  for (const f of files) for (const r of load(f)) byCmd.set(r.command, [...(byCmd.get(r.command) ?? []), r.median]);
  const sds = [...byCmd.values()].map((m) => {
    const mean = m.reduce((a, b) => a + b, 0) / m.length;
    return Math.sqrt(m.reduce((a, b) => a + (b - mean) ** 2, 0) / (m.length - 1));
  });
  return { sd: (sds.reduce((a, b) => a + b, 0) / sds.length) * 1000, rounds: files.length };
}
const spread = roundSpread();
const HARDENING_ORDER = [
  "cave-bare",
  "cave-seccomp",
  "cave-limits",
  "cave-full",
  "crun-bare",
  "crun-seccomp",
  "crun-cgroup",
  "crun-limits",
  "crun-full",
];
const rank = (c: string) => HARDENING_ORDER.indexOf(c.replace(/-idle$/, ""));
const hardening = mergeRounds().sort((a, b) => rank(a.command) - rank(b.command));
const readLines = (name: string) =>
  existsSync(join(dir, name)) ? readFileSync(join(dir, name), "utf8").split("\n").filter(Boolean) : [];
const hardeningNotes = readLines("hardening-notes.txt");
/** One cgjoin.c mode: times in milliseconds. */
interface Join {
  mode: string;
  dir: string;
  fs: string;
  times_ms: number[];
}
const joins = readLines("cgjoin.json").map((l) => JSON.parse(l) as Join);

const ms = (s: number) => (s * 1000).toFixed(2);
const find = (rs: Result[], name: string) => rs.find((r) => r.command === name);

function table(rs: Result[]): string {
  const bwrap = find(rs, "bwrap");
  const rows = rs.map((r) => {
    const ratio = bwrap ? `${(r.median / bwrap.median).toFixed(2)}×` : "n/a";
    return `| ${LABEL[r.command] ?? r.command} | ${ms(r.median)} | ${ms(r.mean)} | ${ms(r.stddev ?? 0)} | ${ms(r.min)} | ${ms(r.max)} | ${ratio} | ${r.times.length} |`;
  });
  return [
    "| command | median | mean | stddev | min | max | median ÷ bwrap | runs |",
    "|---|--:|--:|--:|--:|--:|--:|--:|",
    ...rows,
  ].join("\n");
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? (s[m] as number) : ((s[m - 1] as number) + (s[m] as number)) / 2;
};
const signed = (s: number) => `${s >= 0 ? "+" : "−"}${ms(Math.abs(s))}`;

/** The two timings of each row: back to back, and after 100 ms idle (NAME-idle; see hardening.sh). */
const MODES = [
  { suffix: "", label: "back to back" },
  { suffix: "-idle", label: "after 100 ms idle" },
] as const;
const hmed = (name: string) => find(hardening, name)?.median;
const cell = (x: number | undefined) => (x === undefined ? "n/a" : ms(x));
const diff = (a?: number, b?: number) => (a === undefined || b === undefined ? "n/a" : signed(a - b));
const ratio = (a?: number, b?: number) => (a === undefined || b === undefined ? "n/a" : `${(a / b).toFixed(2)}×`);

/** Rows of one tool (cave-* or crun-*), both timings, each with its cost over that tool's bare row. */
function costTable(tool: "cave" | "crun"): string {
  const rs = hardening.filter((r) => r.command.startsWith(`${tool}-`) && !r.command.endsWith("-idle"));
  if (rs.length === 0) return "_not measured_";
  const rows = rs.map((r) => {
    const cells = MODES.map(({ suffix }) => {
      const x = find(hardening, r.command + suffix);
      const bare = hmed(`${tool}-bare${suffix}`);
      return `${cell(x?.median)} | ${cell(x?.stddev ?? undefined)} | ${diff(x?.median, bare)} | ${ratio(x?.median, bare)}`;
    });
    return `| ${LABEL[r.command] ?? r.command} | ${cells.join(" | ")} | ${r.times.length} |`;
  });
  return [
    "| row | median | stddev | − bare | ÷ bare | idle: median | stddev | − bare | ÷ bare | runs each |",
    "|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|",
    ...rows,
  ].join("\n");
}

/** What each hardening feature adds, by differences of medians, whichever pairs were measured. */
function costLines(tool: "cave" | "crun"): string {
  const lines: string[] = [];
  const add = (what: string, a: string, b: string) => {
    const d = MODES.map(({ suffix, label }) => {
      const x = hmed(`${tool}-${a}${suffix}`);
      const y = hmed(`${tool}-${b}${suffix}`);
      return x === undefined || y === undefined ? undefined : `${signed(x - y)} ms ${label}`;
    });
    if (d.every((x) => x !== undefined)) lines.push(`- ${what}: ${d.join(", ")}`);
  };
  add("seccomp (seccomp only − bare)", "seccomp", "bare");
  add("seccomp on top of limits (full − limits only)", "full", "limits");
  add("a cgroup with no limit in it (cgroup − bare)", "cgroup", "bare");
  add("limits (limits only − bare)", "limits", "bare");
  add("limits on top of seccomp (full − seccomp only)", "full", "seccomp");
  add("both (full − bare)", "full", "bare");
  return lines.length ? lines.join("\n") : "_not enough rows measured_";
}

/** cave next to crun, configuration by configuration, both timings. */
function versusTable(): string {
  const rows = (["bare", "seccomp", "limits", "full"] as const).map((v) => {
    const cells = MODES.map(({ suffix }) => {
      const c = hmed(`cave-${v}${suffix}`);
      const r = hmed(`crun-${v}${suffix}`);
      return `${cell(c)} | ${cell(r)} | ${diff(c, r)} | ${ratio(c, r)}`;
    });
    return `| ${v} | ${cells.join(" | ")} |`;
  });
  return [
    "| configuration | cave | crun | cave − crun | cave ÷ crun | idle: cave | crun | cave − crun | cave ÷ crun |",
    "|---|--:|--:|--:|--:|--:|--:|--:|--:|",
    ...rows,
  ].join("\n");
}

const JOIN_LABEL: Record<string, (d: string, fs: string) => string> = {
  "procs-again": (d, fs) => `${fs}: the same pid written back to \`${d}/cgroup.procs\` right after`,
  procs: (d, fs) => `${fs}: write the pid to \`${d}/<fresh>/cgroup.procs\``,
  clone3: () => "`clone3()` + `waitpid`, no cgroup (baseline)",
  "clone3-into": (d) => `\`clone3(CLONE_INTO_CGROUP)\` into \`${d}/<fresh>\` + \`waitpid\``,
};
function joinTable(): string {
  if (joins.length === 0) return "_not measured_";
  const rows = joins.map((j) => {
    const t = j.times_ms;
    return `| ${(JOIN_LABEL[j.mode] ?? ((d: string) => `${j.mode} ${d}`))(j.dir, j.fs === "cgroup" ? "cgroup v1" : j.fs)} | ${median(t).toFixed(2)} | ${Math.min(...t).toFixed(2)} | ${Math.max(...t).toFixed(2)} | ${t.length} |`;
  });
  return ["| route into a fresh cgroup | median | min | max | runs |", "|---|--:|--:|--:|--:|", ...rows].join("\n");
}
const joinMedian = (mode: string, fs?: string) => {
  const j = joins.find((x) => x.mode === mode && (fs === undefined || x.fs === fs));
  return j ? median(j.times_ms) : undefined;
};
const v1Join = joinMedian("procs", "cgroup");
const v2Join = joinMedian("procs", "cgroup2");
const cloneBase = joinMedian("clone3");
const cloneInto = joinMedian("clone3-into");
const fmt = (x: number | undefined) => (x === undefined ? "n/a" : x.toFixed(2));

interface Verdict {
  mode: string;
  line: string;
  pass: boolean | null;
}

function verdict(mode: string, rs: Result[]): Verdict {
  const cave = find(rs, "cave-run");
  const bwrap = find(rs, "bwrap");
  if (!cave || !bwrap) return { mode, line: `${mode}: not measured (cave or bwrap could not run)`, pass: null };
  const ratio = cave.median / bwrap.median;
  const pass = ratio <= TARGET_RATIO;
  return {
    mode,
    pass,
    line: `${mode}: cave ${ms(cave.median)} ms vs bwrap ${ms(bwrap.median)} ms = ${ratio.toFixed(2)}× (limit ${TARGET_RATIO}×): **${pass ? "PASS" : "FAIL"}**`,
  };
}

/** Where cave's time goes, by differences of medians in the same run. */
function breakdown(rs: Result[]): string {
  const [t, noop, ver, run, alone] = ["true", "bun-noop", "cave-version", "cave-run", "cave-sandbox"].map(
    (n) => find(rs, n)?.median,
  );
  if (t === undefined || noop === undefined || ver === undefined || run === undefined) return "_not all rows measured_";
  const lines = [
    `- Bun runtime start (no-op − /bin/true): ${ms(noop - t)} ms`,
    `- cave's CLI on top of that (\`cave version\` − no-op: bigger binary, citty, argument parsing): ${ms(ver - noop)} ms`,
    `- the sandbox itself (\`cave run\` − \`cave version\`: config, plan, helper load, clone, mounts, init, exec, wait): ${ms(run - ver)} ms`,
  ];
  if (alone !== undefined) {
    lines.push(
      `- the sandbox code alone, without the CLI (bench/sandbox-only.ts): ${ms(alone)} ms; the CLI, config lookup and settings add ${ms(run - alone)} ms to it`,
    );
  }
  // The target leaves the sandbox only what remains of 2× bwrap after Bun and the CLI have started.
  const bwrap = find(rs, "bwrap")?.median;
  if (bwrap !== undefined) {
    const budget = TARGET_RATIO * bwrap;
    lines.push(
      `- budget: ${TARGET_RATIO}× bwrap = ${ms(budget)} ms; \`cave version\` already takes ${ms(ver)} ms of it, ` +
        `which leaves ${ms(budget - ver)} ms for the sandbox against the ${ms(run - ver)} ms it takes now`,
    );
    // A Bun program that did nothing but the kernel work bwrap does: the least cave could take.
    const floor = noop + (bwrap - t);
    lines.push(
      `- floor: Bun's start plus bwrap's own work (no-op + (bwrap − /bin/true)) = ${ms(floor)} ms = ` +
        `${(floor / bwrap).toFixed(2)}× bwrap, before cave loads any of its code; that leaves ${ms(budget - floor)} ms ` +
        `under the target for all of cave's JavaScript and FFI (its chunks, bun:ffi, one libc dlopen, the helper's, ` +
        `arguments, config, the plan, supervision), which take ${ms(run - floor)} ms now`,
    );
    if (alone !== undefined) {
      lines.push(
        `- without any CLI at all, cave's sandbox code takes ${(alone / bwrap).toFixed(2)}× bwrap: ${alone / bwrap > TARGET_RATIO ? "over the target before the command line is parsed" : "within the target; the CLI is what goes over"}`,
      );
    }
  }
  return lines.join("\n");
}

/** bench/exec.sh: /bin/true into a running sandbox, by route, and a fresh bwrap start (the target). */
const EXEC_ORDER = ["api", "cave-exec", "crun-exec", "nsenter", "bwrap"];
const EXEC_LABEL: Record<string, string> = {
  api: "**API: `POST /v1/sandboxes/{id}/exec` to a warm `cave serve`** (client round trip)",
  "cave-exec": "CLI: `cave exec ID -- /bin/true`",
  "crun-exec": "`crun exec --no-new-privs <container> /bin/true`",
  nsenter: "`nsenter -t <init pid> -a /bin/true` (namespaces only)",
  bwrap: "bwrap `--unshare-all` … `/bin/true`: a fresh sandbox (the target)",
};
const execRows = mergeRounds(/^exec-(api-)?\d+\.json$/)
  .filter((r) => EXEC_ORDER.includes(r.command))
  .sort((a, b) => EXEC_ORDER.indexOf(a.command) - EXEC_ORDER.indexOf(b.command));
const execNotes = readLines("exec-notes.txt");
/** The durationMs the server reported for each API run (its exec alone, without HTTP and bookkeeping). */
const serverMs = readdirSync(dir)
  .filter((f) => /^exec-api-\d+\.json$/.test(f))
  .flatMap((f) =>
    (JSON.parse(readFileSync(join(dir, f), "utf8")) as { results: { server_ms?: number[] }[] }).results.flatMap(
      (r) => r.server_ms ?? [],
    ),
  )
  .filter((x) => Number.isFinite(x));

function execTable(): string {
  if (execRows.length === 0) return "_not measured_";
  const bwrap = find(execRows, "bwrap");
  const rows = execRows.map(
    (r) =>
      `| ${EXEC_LABEL[r.command] ?? r.command} | ${ms(r.median)} | ${ms(r.mean)} | ${ms(r.stddev ?? 0)} | ${ms(r.min)} | ${ms(r.max)} | ${ratio(r.median, bwrap?.median)} | ${r.times.length} |`,
  );
  return [
    "| route | median | mean | stddev | min | max | median ÷ bwrap | runs |",
    "|---|--:|--:|--:|--:|--:|--:|--:|",
    ...rows,
  ].join("\n");
}

/** Issue 5's target: the API's exec round trip faster than a bwrap start, medians of the same run. */
const execVerdict = ((): Verdict => {
  const api = find(execRows, "api");
  const bwrap = find(execRows, "bwrap");
  if (!api || !bwrap) return { mode: "exec", line: "not measured (the API or bwrap row could not run)", pass: null };
  const pass = api.median < bwrap.median;
  return {
    mode: "exec",
    pass,
    line: `API exec round trip ${ms(api.median)} ms vs bwrap start ${ms(bwrap.median)} ms = ${(api.median / bwrap.median).toFixed(2)}× (target: below 1×): **${pass ? "PASS" : "FAIL"}**`,
  };
})();

/** Where the exec routes' time goes, by differences of medians of the same run. */
function execBreakdown(): string {
  const [api, cli, crun, nse] = ["api", "cave-exec", "crun-exec", "nsenter"].map((n) => find(execRows, n)?.median);
  const lines: string[] = [];
  if (api !== undefined && serverMs.length) {
    const srv = median(serverMs) / 1000;
    lines.push(
      `- the API's round trip: ${ms(api)} ms, of which the exec itself took ${ms(srv)} ms (median of the \`durationMs\` the server answered: from opening the init's pidfd to the joiner's exit); the other ${ms(api - srv)} ms are HTTP on loopback, the key check, finding the sandbox and recording the execution in the database, and JSON both ways`,
    );
  }
  if (api !== undefined && cli !== undefined) {
    const ver = find(root, "cave-version")?.median;
    lines.push(
      `- the CLI over the API: ${signed(cli - api)} ms per call, in a new cave process. Bun's start and cave's CLI are ${ver === undefined ? "n/a" : ms(ver)} ms of it (\`cave version\` in the startup table); the bulk` +
        `${ver === undefined ? "" : ` (${ms(cli - api - ver)} ms)`} is what every data-directory verb does per process before it gets to the sandbox, chiefly opening the embedded database and its SQL engine, which the server did once when it started`,
    );
  }
  if (api !== undefined && crun !== undefined) lines.push(`- the API over \`crun exec\`: ${signed(api - crun)} ms`);
  if (crun !== undefined && nse !== undefined) {
    lines.push(
      `- \`crun exec\` over \`nsenter\`: ${signed(crun - nse)} ms (state file, cgroup join, seccomp, capabilities; nsenter does none of these)`,
    );
  }
  return lines.length ? lines.join("\n") : "_not enough rows measured_";
}

const [load1] = String(machine.loadavg_at_start ?? "")
  .split(" ")
  .map(Number);
const busy =
  load1 !== undefined && Number(machine.cpus) > 0 && load1 > Number(machine.cpus)
    ? `\n> **A busy machine:** the load average was ${load1} on ${machine.cpus} CPUs when this run started (other work was running). Every row is slower and noisier than on an idle machine, rows that run later more or less so; the ratios between rows of one table are the useful part.\n`
    : "";
const verdicts = [verdict("root", root), ...(rootless.length ? [verdict("rootless (uid 65534)", rootless)] : [])];
const measured = verdicts.filter((v) => v.pass !== null);
const overall = measured.length > 0 && measured.every((v) => v.pass) ? "PASS" : "FAIL";
const facts = Object.entries(machine)
  .map(([k, v]) => `| ${k} | ${v} |`)
  .join("\n");

const doc = `# Benchmarks: sandbox startup latency

<!-- Generated by bench/report.ts from bench/results/ of the run below; edit report.ts, not this file. -->

How long it takes to start a command in a fresh sandbox and get its exit status back,
for \`cave run -- /bin/true\` and for peer tools with comparable isolation, all measured
in the same run on the same machine. \`/bin/true\` does no work, so each number is the
tool's own start-up and tear-down cost.

**Target:** cave's median at most ${TARGET_RATIO}× bwrap's median. **Verdict of this run: ${overall}.**

${verdicts.map((v) => `- ${v.line}`).join("\n")}

**Exec target** (a command into a running sandbox, issue 5): the API's exec round trip, to a warm
\`cave serve\`, faster than a fresh bwrap start in the same run. **Verdict: ${execVerdict.pass === null ? "not measured" : execVerdict.pass ? "PASS" : "FAIL"}**
(${execVerdict.line.replace(/: \*\*(PASS|FAIL)\*\*$/, "")}; see "Exec into a running sandbox").
${busy}
## How to reproduce

\`\`\`sh
make bench            # builds dist/cave, then bench/run.sh (as root)
RUNS=500 make bench   # more runs per command (default 200, at least 50)
\`\`\`

\`bench/run.sh\` installs missing peers from Debian (hyperfine, bubblewrap, util-linux, crun),
compiles the Bun no-op, records the machine facts, runs \`bench/startup.sh\` (hyperfine,
\`-N\` so no shell is timed, \`--warmup 5\`) and then \`bench/hardening.sh\` (the limits and
seccomp rows for cave and crun, one more hyperfine run, and \`bench/cgjoin.c\`) and
\`bench/exec.sh\` (exec into a running sandbox: hyperfine rows and \`bench/exec-api.ts\`), writes the raw
JSON to \`bench/results/\` (not committed) and regenerates this file with \`bench/report.ts\`.
The commands run from an empty temporary directory, so no \`./cave.yaml\` is read.

## Machine

| fact | value |
|---|---|
${facts}

## Results (ms)

### As root

${table(root)}

### Rootless: uid 65534 through \`setpriv --reuid=65534 --regid=65534 --clear-groups\`

setpriv's own exec is part of every row here; its \`/bin/true\` row is the floor.
${skipped.length ? `Not permitted as uid 65534 on this machine, so not measured: ${skipped.join(", ")}.\n` : ""}
${rootless.length ? table(rootless) : "_not measured_"}

### Where cave's time goes (root, differences of medians)

${breakdown(root)}

## Cost of limits and seccomp

All rows of this section and the next come from one hyperfine run (\`bench/hardening.sh\`, as
root, ${hardening[0]?.times.length ?? "n/a"} runs per row and timing), separate from the run above: compare them with each
other, not with the table above. The runs are split into rounds (\`ROUNDS\`, default 10), each
a hyperfine run of every row after 2 warm-up runs, the row order rotated each round, so that
load drifting on a shared machine falls on every row alike. Each row is timed twice: back to back,
like the table above, and "idle", with 100 ms of sleep before every run (\`hyperfine --prepare
'sleep 0.1'\`, not timed). Idle is what a lone \`cave run\` meets; back to back lets a run inherit
kernel state from the one before, which hides most of the cgroup cost (next subsection).
\`none\` turns a limit off, and with all three off cave makes no cgroup at all. "full" is \`cave run -- /bin/true\`: memory 1 GiB without swap,
2 CPUs, 1024 pids, the \`default\` seccomp profile.

${costTable("cave")}
${
  spread
    ? `\nNoise: a row's ${spread.rounds} round medians have a standard deviation of ${spread.sd.toFixed(1)} ms (mean over rows), so a difference of two rows' medians is uncertain by about ±${((2 * Math.SQRT2 * spread.sd) / Math.sqrt(spread.rounds)).toFixed(1)} ms (2 standard errors); read smaller differences as noise.\n`
    : ""
}
What each part adds (differences of medians):

${costLines("cave")}

### Why limits cost so much here: moving a process into a cgroup waits for RCU

This host is cgroup ${machine.cgroup}: memory, pids and cpu live on cgroup v1, which has no
\`CLONE_INTO_CGROUP\`. So cave clones the child first and then writes its pid into
\`cgroup.procs\` of the memory, pids and cpu hierarchies (while the child builds its mounts).
Moving a process between cgroups takes the kernel's \`cgroup_threadgroup_rwsem\` for writing,
and that per-CPU rwsem first waits for an RCU grace period (\`rcu_sync_enter\` →
\`synchronize_rcu\`) unless another writer passed through less than about a grace period ago.
One cave run pays it once: the writes to the other hierarchies right after are fast.
Measured by \`bench/cgjoin.c\`, with 100 ms idle before each timed step so that none rides on the
one before (median ${fmt(v1Join)} ms for a v1 write here):

${joinTable()}

The wait is not a v1 matter as such: a \`cgroup.procs\` write on this kernel's cgroup2 mount
costs ${fmt(v2Join)} ms as well. What cgroup v2 changes is that cave need not move the process at all:
there it creates the child with \`clone3(CLONE_INTO_CGROUP)\`, which starts it in its cgroup under
the read side of the same rwsem — ${fmt(cloneInto)} ms for clone + exit + wait against ${fmt(cloneBase)} ms for a
plain \`clone3\`, i.e. no wait. On a v2 host the "limits" rows should therefore cost little
more than the cgroup writes themselves (a few tenths of a millisecond); this host cannot show
that for cave, because its cgroup2 mount has none of the memory, pids and cpu controllers.
The rwsem goes back to its fast mode only about a grace period after the last writer leaves.
Back to back, a run whose join comes sooner than that after the previous run's skips the wait,
which is why the back-to-back columns understate what cgroups cost — the more so the shorter
the run (crun's more than cave's). The idle columns give each run a quiet rwsem, as a lone
\`cave run\` finds it; they also start each run on cooler caches and CPU clocks, which is why
their bare rows are slower too and why costs are taken against the bare row of the same column.

## cave vs crun with limits

crun ${machine.crun ?? ""} from Debian, with an OCI bundle built by \`bench/crun-bundle.ts\` to match cave
as near as OCI gets, the same limits as cave's defaults, and cave's \`default\` seccomp profile
converted rule for rule into OCI JSON (allow by default; the same syscalls, errnos and argument
checks; native architecture only). Same hyperfine run as above.

${versusTable()}

crun's own rows, each against crun without cgroup and filter:

${costTable("crun")}

${costLines("crun")}

What the crun rows are:

- **Bundle.** \`crun spec\`, edited: \`/bin/true\` (and \`/bin/cat\` for the check below, \`/bin/sleep\` for the exec section) with the
  libraries \`ldd\` lists as the whole rootfs, read-only; no terminal; no capabilities in any set,
  no_new_privs; namespaces pid, network, ipc, uts, mount, cgroup and user, the user namespace
  mapping root to 65534 as cave does as root; crun spec's /proc (with its masked and read-only
  paths), tmpfs /dev with devpts, /dev/shm and mqueue, read-only /sys and cgroup mount, plus a
  1 GiB tmpfs on /tmp. crun spec's "deny all devices" rule is dropped: cave has no devices cgroup.
- **Limits:** \`memory.limit\` = \`memory.swap\` = 1 GiB (no swap), \`pids.limit\` 1024, \`cpu\`
  quota 200000 per 100000 µs; \`--cgroup-manager=cgroupfs\`. The bare and seccomp-only rows use
  \`--cgroup-manager=disabled\`: with cgroupfs, crun creates and joins a cgroup (in every v1
  hierarchy) even when the config sets no limit — the "cgroup, no limits set" row.
- **Runs:** \`crun --cgroup-manager=… run --bundle B --config B/<row>.json cave-bench-<row>\`, timed
  with \`-N\` like every other row. \`crun run\` deletes the container when it exits, so one id
  per row serves every run (crun 1.8 has no \`--rm\`; a leftover would make the next run fail
  and hyperfine stop): no wrapper script and no shell are in the timings.
- **Differences that favour crun:** its root is a four-file directory, where cave mounts an
  idmapped overlay of the whole host root; it is a C program, where cave first pays the Bun
  start-up and its CLI (the "Bun floor" and \`cave version\` rows above); the command is the
  container's PID 1, where cave runs an init that reaps and forwards signals. Against crun: it
  keeps state in /run/crun, compiles the seccomp profile with libseccomp on every run (cave
  reads a compiled program from its disk cache once one is there, as after the warm-up runs),
  and joins every v1 hierarchy mounted (nine here), where cave joins memory, pids and cpu.

What happened on this host (verbatim):

${hardeningNotes.length ? hardeningNotes.map((n) => `- ${n}`).join("\n") : "- nothing to note"}

## Exec into a running sandbox

\`bench/exec.sh\`, as root, after the rows above: \`/bin/true\` run inside a sandbox that is
already running, by each route, ${execRows[0]?.times.length ?? "n/a"} runs per row. One cave sandbox with default limits
(memory 1 GiB, 2 CPUs, 1024 pids, the \`default\` seccomp profile) is created and started by the CLI
in a temporary data directory, and \`cave serve\` (\`CAVE_ADMIN_KEY\`, a port the kernel picks) runs
on the same data directory, so the CLI, the API and nsenter all go into that one sandbox. The crun
container is the bundle of the rows above with the same limits and filter (\`exec.json\`: as
\`full.json\`, running \`/bin/sleep infinity\`), started with \`crun run --detach\`. The runs are
split into rounds like the hardening rows: each round one hyperfine run (\`-N\`, 2 warm-up runs, the
row order rotated) of the CLI, crun, nsenter and bwrap rows, and one run of \`bench/exec-api.ts\`
(2 warm-up requests), before it in odd rounds and after it in even ones. The API row is that
client's time from just before \`fetch\` to the parsed JSON answer, sequential requests on one
keep-alive connection to the server started once (no Bun start per call); the hyperfine rows are
wall-clock times of a process from fork to exit. The bwrap row is the command line of the
startup table: a new sandbox from nothing, which is what the target compares with.

${execTable()}

- ${execVerdict.line}

${execBreakdown()}

What each route does per call:

- **API:** the server (Bun, already running) checks the bearer key, finds the sandbox in the
  database and records the execution, then forks a joiner through the native helper: it makes
  an exec cgroup of its own inside the sandbox's (\`box-…/exec-<n>\`) and
  joins it, enters the init's namespaces through a pidfd (\`setns\`), and runs the command through
  the same exec stage as \`cave run\` (capabilities dropped, no_new_privs, signals reset, fds closed,
  the seccomp filter last); the server waits for it without blocking its event loop, records
  the result and answers \`{exitCode, …, stdout, stderr}\`.
- **CLI:** the same work in a new \`cave\` process per call, which first pays Bun's start,
  cave's CLI and opening the database; stdio is passed straight through.
- **crun exec:** a C program: reads the container's state under /run/crun, forks, joins the
  container's cgroup and namespaces, applies the container's seccomp filter and its (empty)
  capability sets; \`--no-new-privs\` sets no_new_privs as cave does (crun exec leaves it unset
  otherwise). It makes no cgroup per exec.
- **nsenter:** \`setns\` into the init's user, mount, pid, network, ipc, uts and cgroup
  namespaces, then exec: no cgroup (the command stays in the caller's), no seccomp filter and
  every capability of root inside the sandbox's user namespace. A floor for entering the
  namespaces, not an equivalent confinement.
- **bwrap:** a whole new sandbox per call (see "What is compared" below), with no cgroup and no
  seccomp filter.

What the command was given by each route, read inside (\`cat /proc/self/status /proc/self/cgroup\`:
uid, effective capabilities, no_new_privs, seccomp mode 2 = filter, and the memory cgroup as its
cgroup namespace shows it), and what happened on this host (verbatim):

${execNotes.length ? execNotes.map((n) => `- ${n}`).join("\n") : "- nothing to note"}

## What is compared

| row | command |
|---|---|
| floor | \`/bin/true\` |
| Bun floor | an empty script (\`console.log("")\`) built with \`bun build --compile --minify --bytecode\`, the flags cave is built with |
| \`cave version\` | the CLI without a sandbox: Bun start plus cave's entry point |
| cave | \`dist/cave run -- /bin/true\` with default settings |
| rootless rows | each command above prefixed with \`setpriv --reuid=65534 --regid=65534 --clear-groups\` |
| bwrap | \`bwrap --unshare-all --die-with-parent --new-session --ro-bind / / --tmpfs /tmp --proc /proc --dev /dev --hostname cave /bin/true\` |
| unshare | \`unshare --fork --pid --mount --net --uts --ipc --cgroup --user --map-root-user --mount-proc /bin/true\` |

## What differs between the tools

The peers are set up to match cave's namespaces, but cave does more per run, so the
comparison is conservative for cave:

- **Root filesystem.** As root, cave mounts a writable overlay of the whole root (the host
  layer idmapped, upper and work dirs on a size-limited tmpfs that is the disk quota), adds
  /proc, a read-only /sys, a minimal /dev with its own devpts, private /tmp and /root, then
  \`pivot_root\`s into it; writes never reach the host. Rootless, overlayfs cannot take \`/\`
  (locked submounts), so cave builds a tmpfs root with each top-level host directory bound
  read-only. bwrap binds \`/\` read-only (it has no overlay) with a tmpfs /tmp, a fresh
  /proc and a minimal /dev, and also pivots. \`unshare\` keeps the host's root as it is,
  only with a private mount table and a new /proc.
- **Users and privileges.** cave as root creates a user namespace in which root is uid 65534
  outside, idmaps the root filesystem into it and runs the command with no capabilities;
  rootless it maps the caller to root. bwrap as root also creates a user namespace, but maps
  0 to host root and leaves the command all of root's capabilities (no \`--cap-drop ALL\` here);
  rootless it maps the caller to itself with no capabilities. \`unshare --map-root-user\` maps the
  caller to root with full capabilities inside its namespace.
- **Network.** cave and bwrap both bring up \`lo\` in the new network namespace; \`unshare\` leaves it down.
- **Init.** cave runs a small PID 1 that reaps and forwards signals, and waits with a pidfd and
  a wall-clock timeout. bwrap's PID 1 is a bwrap process that reaps; \`unshare --fork\` just waits.
- **Process hygiene.** cave resets signal dispositions and mask, closes inherited fds, sets
  no_new_privs and drops every capability before \`execve\`. bwrap sets no_new_privs; \`unshare\` neither.
- **Limits and seccomp:** the cave rows above run with cave's defaults, so they include the
  cgroup limits and the seccomp filter; bwrap and unshare set neither (bwrap takes a filter only
  as a pre-built BPF fd). What those cost, and how crun compares with the same limits, is in
  "Cost of limits and seccomp" and "cave vs crun with limits".
- **Runtime.** cave is a Bun binary: the Bun floor row is paid before cave does anything,
  and its JS (config, plan, loading the native helper) runs before the first namespace exists.
  bwrap and unshare are small C programs. The kernel work is much the same for all three:
  creating the network namespace is its largest single part (1–2 ms in a kernel trace of
  cave on this kind of machine), then the mounts and the exec of the command.

## Caveats

- A 2-core VM: neighbours and frequency changes move numbers by 10–20 % between runs; compare
  rows of one run, not numbers across runs. Commands are timed one after another, not interleaved.
- hyperfine measures wall-clock time from fork to exit, including exec of the tool itself
  (cave's binary is ~100 MB; the page cache is warm after the warm-up runs).
- crun is measured only as root, in its own section: rootless crun needs a cgroup manager
  (systemd) or a delegated cgroup2 tree that this host does not have for memory, pids and cpu.
`;

// Other benchmarks (bench/db) keep their sections below this file's own part: keep whatever
// follows the end marker, or, in a doc from before the marker, whatever follows the Caveats section.
const END = "<!-- bench/report.ts: end. Everything below belongs to other benchmarks and is kept as it is. -->";
const old = existsSync(docPath) ? readFileSync(docPath, "utf8") : "";
let rest = "";
if (old.includes(END)) rest = old.slice(old.indexOf(END) + END.length).replace(/^\n+/, "");
else if (old.includes("\n## Caveats")) {
  const next = old.indexOf("\n## ", old.indexOf("\n## Caveats") + 1);
  if (next >= 0) rest = old.slice(next + 1);
}
mkdirSync(dirname(docPath), { recursive: true });
writeFileSync(docPath, `${doc}\n${END}\n${rest ? `\n${rest}` : ""}`);
console.log(`\nwrote ${docPath}`);
for (const v of verdicts) console.log(v.line.replaceAll("**", ""));
console.log(`VERDICT: ${overall} (cave median ≤ ${TARGET_RATIO}× bwrap median)`);
