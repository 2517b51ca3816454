// The /metrics exposition scraped over HTTP and parsed by a real Prometheus text-format
// parser: the official Python client's (prometheus_client.parser, Debian's
// python3-prometheus-client, which .ci/run installs), run by the system's /usr/bin/python3.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { Registry, renderPrometheus, Telemetry } from "../../../src/telemetry/index.ts";

const PYTHON = "/usr/bin/python3";
const hasParser =
  Bun.spawnSync([PYTHON, "-c", "import prometheus_client.parser"], { stdout: "ignore", stderr: "ignore" }).exitCode ===
  0;
const why = "needs /usr/bin/python3 with prometheus_client (apt-get install python3-prometheus-client)";

// Families → [name, type, help, [[sample name, labels, value]]]; values as repr so +Inf/NaN survive JSON.
const PARSE = `
import json, sys
from prometheus_client.parser import text_string_to_metric_families
out = []
for f in text_string_to_metric_families(sys.stdin.read()):
    out.append([f.name, f.type, f.documentation, [[s.name, s.labels, repr(float(s.value))] for s in f.samples]])
print(json.dumps(out))
`;

type Family = [string, string, string, [string, Record<string, string>, string][]];

async function parse(text: string): Promise<Family[]> {
  const p = Bun.spawn([PYTHON, "-c", PARSE], { stdin: new Blob([text]), stdout: "pipe", stderr: "pipe" });
  const [out, err, code] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text(), p.exited]);
  if (code !== 0) throw new Error(`the parser refused the exposition:\n${err}\n--- text ---\n${text}`);
  return JSON.parse(out) as Family[];
}

describe.skipIf(!hasParser)(`Prometheus exposition${hasParser ? "" : ` (skipped: ${why})`}`, () => {
  let server: ReturnType<typeof Bun.serve>;
  let t: Telemetry;
  beforeAll(() => {
    t = Telemetry.open({ serviceVersion: "1", env: {}, sandboxStates: async () => ({ running: 3, stopped: 1 }) });
    server = Bun.serve({
      port: 0,
      hostname: "127.0.0.1",
      fetch: (req) =>
        new URL(req.url).pathname === "/metrics" ? t.metricsResponse() : new Response("no", { status: 404 }),
    });
  });
  afterAll(async () => {
    server.stop(true);
    await t.shutdown();
  });

  test("a scrape of cave's metrics parses, with every family, type, label and value as recorded", async () => {
    const req = (method: string, route: string) => new Request(`http://x/${route}`, { method });
    t.startRequest(req("GET", "v1/sandboxes"), "list").end(200);
    t.startRequest(req("GET", "v1/sandboxes"), "list").end(200);
    t.startRequest(req("POST", "v1/sandboxes"), "create").end(429);
    t.rateLimited("session");
    t.startSandbox("exec").end({ reason: "exit", exitCode: 0 });
    t.startSandbox("exec").end({ reason: "timeout", exitCode: 124 });
    t.startSandbox("exec").end({ reason: "oom", exitCode: 137 });
    t.startSandbox("start").end({ error: new Error("no loop device") });

    const res = await fetch(`http://127.0.0.1:${server.port}/metrics`);
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toBe("text/plain; version=0.0.4; charset=utf-8");
    const families = await parse(await res.text());
    const byName = Object.fromEntries(families.map((f) => [f[0], f]));

    // prometheus_client names a counter family without its _total suffix; the samples keep it.
    expect(families.map((f) => [f[0], f[1]])).toEqual([
      ["cave_http_requests", "counter"],
      ["cave_http_request_duration_seconds", "histogram"],
      ["cave_sandboxes", "gauge"],
      ["cave_execs", "counter"],
      ["cave_sandbox_starts", "counter"],
      ["cave_oom_kills", "counter"],
      ["cave_timeouts", "counter"],
      ["cave_rate_limit_rejections", "counter"],
      ["cave_telemetry_export_failures", "counter"],
    ]);
    expect(byName.cave_http_requests?.[2]).toBe("API requests answered, by route name, method and status code.");
    expect(byName.cave_http_requests?.[3]).toEqual([
      ["cave_http_requests_total", { route: "list", method: "GET", status: "200" }, "2.0"],
      ["cave_http_requests_total", { route: "create", method: "POST", status: "429" }, "1.0"],
    ]);
    expect(byName.cave_sandboxes?.[3]).toEqual([
      ["cave_sandboxes", { state: "running" }, "3.0"],
      ["cave_sandboxes", { state: "stopped" }, "1.0"],
    ]);
    expect(byName.cave_execs?.[3]).toEqual([
      ["cave_execs_total", { reason: "exit" }, "1.0"],
      ["cave_execs_total", { reason: "timeout" }, "1.0"],
      ["cave_execs_total", { reason: "oom" }, "1.0"],
    ]);
    expect(byName.cave_sandbox_starts?.[3]).toEqual([["cave_sandbox_starts_total", { outcome: "error" }, "1.0"]]);
    expect(byName.cave_oom_kills?.[3]).toEqual([["cave_oom_kills_total", { kind: "exec" }, "1.0"]]);
    expect(byName.cave_timeouts?.[3]).toEqual([["cave_timeouts_total", { kind: "exec" }, "1.0"]]);
    expect(byName.cave_rate_limit_rejections?.[3]).toEqual([
      ["cave_rate_limit_rejections_total", { role: "session" }, "1.0"],
    ]);
    expect(byName.cave_telemetry_export_failures?.[3]).toEqual([]);

    // The histogram: cumulative buckets ending in +Inf (= count), then _sum and _count, per label set.
    const hist = byName.cave_http_request_duration_seconds?.[3] ?? [];
    const list = hist.filter(([, l]) => l.route === "list");
    const buckets = list.filter(([n]) => n.endsWith("_bucket"));
    expect(buckets.map(([, l]) => l.le)).toEqual([
      "0.005",
      "0.01",
      "0.025",
      "0.05",
      "0.1",
      "0.25",
      "0.5",
      "1",
      "2.5",
      "5",
      "10",
      "30",
      "60",
      "+Inf",
    ]);
    const counts = buckets.map(([, , v]) => Number(v));
    expect(counts).toEqual([...counts].sort((a, b) => a - b));
    expect(counts.at(-1)).toBe(2);
    expect(list.find(([n]) => n.endsWith("_count"))?.[2]).toBe("2.0");
    expect(Number(list.find(([n]) => n.endsWith("_sum"))?.[2])).toBeGreaterThanOrEqual(0);
  });

  test("a sandbox state that empties reads 0 instead of disappearing", async () => {
    let states: Record<string, number> = { running: 1, lost: 2 };
    const t2 = Telemetry.open({ serviceVersion: "1", env: {}, sandboxStates: () => states });
    await t2.renderPrometheus();
    states = { running: 1 };
    const families = await parse(await t2.renderPrometheus());
    expect(families.find((f) => f[0] === "cave_sandboxes")?.[3]).toEqual([
      ["cave_sandboxes", { state: "running" }, "1.0"],
      ["cave_sandboxes", { state: "lost" }, "0.0"],
    ]);
  });

  test("label values and help text with quotes, backslashes and newlines survive escaping; +Inf, -Inf and NaN too", async () => {
    const r = new Registry();
    r.counter("odd_total", { help: 'Help with a \\ backslash,\na newline and "quotes".', labels: ["path"] }).inc({
      path: 'C:\\dir\\"quoted"\nnext line',
    });
    const g = r.gauge("special", { help: "Special values.", labels: ["which"] });
    g.set({ which: "pos" }, Number.POSITIVE_INFINITY);
    g.set({ which: "neg" }, Number.NEGATIVE_INFINITY);
    g.set({ which: "nan" }, Number.NaN);
    g.set({ which: "small" }, 1.5e-7);
    r.histogram("empty_seconds", { help: "Never observed.", buckets: [1] });
    const h = r.histogram("sizes_bytes", { help: "Sizes.", buckets: [10, 100], labels: ["kind"] });
    h.observe({ kind: "a" }, 5);
    h.observe({ kind: "a" }, 50);
    h.observe({ kind: "a" }, 500);
    const text = renderPrometheus(r);
    expect(text).toContain('odd_total{path="C:\\\\dir\\\\\\"quoted\\"\\nnext line"} 1\n');
    expect(await parse(text)).toEqual([
      [
        "odd",
        "counter",
        'Help with a \\ backslash,\na newline and "quotes".',
        [["odd_total", { path: 'C:\\dir\\"quoted"\nnext line' }, "1.0"]],
      ],
      [
        "special",
        "gauge",
        "Special values.",
        [
          ["special", { which: "pos" }, "inf"],
          ["special", { which: "neg" }, "-inf"],
          ["special", { which: "nan" }, "nan"],
          ["special", { which: "small" }, "1.5e-07"],
        ],
      ],
      ["empty_seconds", "histogram", "Never observed.", []],
      [
        "sizes_bytes",
        "histogram",
        "Sizes.",
        [
          ["sizes_bytes_bucket", { kind: "a", le: "10" }, "1.0"],
          ["sizes_bytes_bucket", { kind: "a", le: "100" }, "2.0"],
          ["sizes_bytes_bucket", { kind: "a", le: "+Inf" }, "3.0"],
          ["sizes_bytes_sum", { kind: "a" }, "555.0"],
          ["sizes_bytes_count", { kind: "a" }, "3.0"],
        ],
      ],
    ]);
  });
});

describe("metric registry", () => {
  test("refuses names and labels Prometheus would not accept, and undeclared labels", () => {
    const r = new Registry();
    expect(() => r.counter("bad-name", { help: "x" })).toThrow('invalid metric name "bad-name"');
    expect(() => r.counter("x_total", { help: "x", labels: ["le"] })).toThrow(
      'metric x_total: invalid label name "le"',
    );
    const c = r.counter("ok_total", { help: "x", labels: ["a"] });
    expect(() => c.inc({ b: "1" })).toThrow("metric ok_total: unknown label b (declared: a)");
    expect(() => c.inc({}, -1)).toThrow("counter ok_total: cannot add -1");
    expect(() => r.counter("ok_total", { help: "again" })).toThrow("metric ok_total is registered twice");
  });
});
