// Telemetry against a real OTLP/HTTP receiver on loopback (our own small Bun.serve that
// keeps what arrives): span names, parent/child links, attributes, the resource, sampling at
// 0, 1 and invalid rates, traceparent propagation, the metrics export, and exports that fail
// without touching the caller.
import { afterEach, describe, expect, test } from "bun:test";
import { type PhaseMark, Telemetry } from "../../../src/telemetry/index.ts";
import { perfToUnixNs } from "../../../src/telemetry/trace.ts";

interface Post {
  path: string;
  contentType: string | null;
  body: Record<string, unknown>;
}

function collector() {
  const posts: Post[] = [];
  const server = Bun.serve({
    port: 0,
    hostname: "127.0.0.1",
    async fetch(req) {
      posts.push({
        path: new URL(req.url).pathname,
        contentType: req.headers.get("content-type"),
        body: (await req.json()) as Record<string, unknown>,
      });
      return new Response("{}", { headers: { "content-type": "application/json" } });
    },
  });
  return { base: `http://127.0.0.1:${server.port}`, posts, stop: () => server.stop(true) };
}

const stops: (() => unknown)[] = [];
afterEach(async () => {
  for (const s of stops.splice(0)) await s();
});

interface OtlpSpan {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name: string;
  kind: number;
  startTimeUnixNano: string;
  endTimeUnixNano: string;
  attributes: { key: string; value: Record<string, unknown> }[];
  status: { code: number; message?: string };
}

function spansOf(posts: Post[]): OtlpSpan[] {
  return posts
    .filter((p) => p.path === "/v1/traces")
    .flatMap((p) => (p.body as { resourceSpans: { scopeSpans: { spans: OtlpSpan[] }[] }[] }).resourceSpans)
    .flatMap((r) => r.scopeSpans.flatMap((s) => s.spans));
}

const attrs = (s: OtlpSpan) => Object.fromEntries(s.attributes.map((a) => [a.key, a.value]));

function open(c: { base: string }, env: Record<string, string> = {}, warn?: (m: string) => void) {
  const t = Telemetry.open({
    serviceVersion: "9.9.9-test",
    env: { OTEL_EXPORTER_OTLP_ENDPOINT: c.base, ...env },
    ...(warn ? { warn } : {}),
  });
  stops.push(() => t.shutdown());
  return t;
}

describe("traces over OTLP/HTTP JSON", () => {
  test("a request span and its sandbox exec with setup phases arrive linked, with attributes and the resource", async () => {
    const c = collector();
    stops.push(c.stop);
    const t = open(c);
    const req = t.startRequest(
      new Request("http://cave.local/v1/sandboxes/abc/exec?stream=ndjson", { method: "POST" }),
      "exec",
    );
    const exec = t.startSandbox("exec", { parent: req.span, attributes: { "cave.sandbox.id": "abc" } });
    // Phase marks as src/core/trace.ts records them: [name, performance.now() at the phase's end].
    const marks: PhaseMark[] = [];
    for (const name of ["cgroup prepared", "plan built", "sandbox cloned"]) {
      for (let i = 0; i < 1e5; i++); // a little real time per phase
      marks.push([name, performance.now()]);
    }
    exec.phases(marks);
    exec.end({ reason: "exit", exitCode: 0 });
    req.end(200);
    await t.flush();

    const posts = c.posts.filter((p) => p.path === "/v1/traces");
    expect(posts.length).toBe(1);
    expect(posts[0]?.contentType).toBe("application/json");
    const body = posts[0]!.body as {
      resourceSpans: { resource: { attributes: unknown[] }; scopeSpans: { scope: unknown }[] }[];
    };
    const resource = body.resourceSpans[0];
    expect(resource?.resource.attributes).toEqual([
      { key: "service.name", value: { stringValue: "cave" } },
      { key: "service.version", value: { stringValue: "9.9.9-test" } },
    ]);
    expect(resource?.scopeSpans[0]?.scope).toEqual({ name: "cave", version: "9.9.9-test" });

    const spans = spansOf(c.posts);
    expect(spans.map((s) => s.name).sort()).toEqual(
      ["POST exec", "cgroup prepared", "plan built", "sandbox cloned", "sandbox.exec"].sort(),
    );
    const byName = Object.fromEntries(spans.map((s) => [s.name, s])) as Record<string, OtlpSpan>;
    const root = byName["POST exec"] as OtlpSpan;
    const execSpan = byName["sandbox.exec"] as OtlpSpan;
    for (const s of spans) {
      expect(s.traceId).toMatch(/^[0-9a-f]{32}$/);
      expect(s.spanId).toMatch(/^[0-9a-f]{16}$/);
      expect(s.traceId).toBe(root.traceId);
      expect(s.startTimeUnixNano).toMatch(/^\d{19}$/);
      expect(BigInt(s.endTimeUnixNano) >= BigInt(s.startTimeUnixNano)).toBe(true);
    }
    expect(root.parentSpanId).toBeUndefined();
    expect(root.kind).toBe(2); // SERVER
    expect(attrs(root)).toEqual({
      "http.request.method": { stringValue: "POST" },
      "url.path": { stringValue: "/v1/sandboxes/abc/exec" },
      "url.scheme": { stringValue: "http" },
      "cave.route": { stringValue: "exec" },
      "http.response.status_code": { intValue: "200" },
    });
    expect(root.status).toEqual({ code: 0 });
    expect(execSpan.parentSpanId).toBe(root.spanId);
    expect(execSpan.kind).toBe(1);
    expect(attrs(execSpan)).toEqual({
      "cave.sandbox.id": { stringValue: "abc" },
      "cave.reason": { stringValue: "exit" },
      "process.exit.code": { intValue: "0" },
    });

    // Each phase is a child of the exec span, from the previous mark (or the exec's start) to its own.
    let prevEnd = BigInt(execSpan.startTimeUnixNano);
    for (const [name, at] of marks) {
      const p = byName[name] as OtlpSpan;
      expect(p.parentSpanId).toBe(execSpan.spanId);
      expect(attrs(p)).toEqual({ "cave.phase": { stringValue: name } });
      expect(BigInt(p.startTimeUnixNano)).toBe(prevEnd);
      expect(BigInt(p.endTimeUnixNano)).toBe(perfToUnixNs(at));
      prevEnd = BigInt(p.endTimeUnixNano);
    }
    expect(BigInt(execSpan.endTimeUnixNano) >= prevEnd).toBe(true);
  });

  test("a caller's traceparent makes the request span its child; an unsampled caller's trace is not recorded", async () => {
    const c = collector();
    stops.push(c.stop);
    const t = open(c, { CAVE_OTEL_SAMPLING_RATE: "1" });
    const traceId = "4bf92f3577b34da6a3ce929d0e0e4736";
    const sampled = t.startRequest(
      new Request("http://x/v1/sandboxes", { headers: { traceparent: `00-${traceId}-00f067aa0ba902b7-01` } }),
      "list",
    );
    sampled.end(200);
    expect(sampled.span.traceparent()).toBe(`00-${traceId}-${sampled.span.context.spanId}-01`);
    const unsampled = t.startRequest(
      new Request("http://x/v1/sandboxes", { headers: { traceparent: `00-${"a".repeat(32)}-${"b".repeat(16)}-00` } }),
      "list",
    );
    unsampled.end(200);
    expect(unsampled.span.traceparent()).toBe(`00-${"a".repeat(32)}-${unsampled.span.context.spanId}-00`);
    // A malformed header starts a new trace (W3C: ignore it).
    const bad = t.startRequest(
      new Request("http://x/v1/sandboxes", { headers: { traceparent: `00-${"0".repeat(32)}-00f067aa0ba902b7-01` } }),
      "list",
    );
    bad.end(500, new Error("boom"));
    await t.flush();
    const spans = spansOf(c.posts);
    expect(spans.length).toBe(2);
    const [child, fresh] = spans as [OtlpSpan, OtlpSpan];
    expect(child.traceId).toBe(traceId);
    expect(child.parentSpanId).toBe("00f067aa0ba902b7");
    expect(fresh.traceId).not.toBe("0".repeat(32));
    expect(fresh.parentSpanId).toBeUndefined();
    expect(fresh.status).toEqual({ code: 2, message: "boom" });
    expect(attrs(fresh)["http.response.status_code"]).toEqual({ intValue: "500" });
  });

  test("sampling rate 0 exports nothing, 1 exports every trace", async () => {
    for (const [rate, expected] of [
      ["0", 0],
      ["1", 20],
    ] as const) {
      const c = collector();
      stops.push(c.stop);
      const t = open(c, { CAVE_OTEL_SAMPLING_RATE: rate });
      for (let i = 0; i < 20; i++) t.startRequest(new Request("http://x/healthz"), "healthz").end(200);
      await t.flush();
      expect(spansOf(c.posts).length).toBe(expected);
      if (expected === 0) expect(c.posts.filter((p) => p.path === "/v1/traces")).toEqual([]);
    }
  });

  test("a rate of 0.5 samples whole traces: children follow their root's decision", async () => {
    const c = collector();
    stops.push(c.stop);
    const t = open(c, { CAVE_OTEL_SAMPLING_RATE: "0.5" });
    let sampledRoots = 0;
    for (let i = 0; i < 200; i++) {
      const r = t.startRequest(new Request("http://x/healthz"), "healthz");
      const child = t.startSandbox("exec", { parent: r.span });
      expect(child.span.sampled).toBe(r.span.sampled);
      if (r.span.sampled) sampledRoots++;
      child.end({ reason: "exit", exitCode: 0 });
      r.end(200);
    }
    await t.flush();
    const spans = spansOf(c.posts);
    expect(spans.length).toBe(2 * sampledRoots);
    // 200 fair coin flips: outside 40..160 has odds below 1e-17.
    expect(sampledRoots).toBeGreaterThan(40);
    expect(sampledRoots).toBeLessThan(160);
  });

  test("an invalid CAVE_OTEL_SAMPLING_RATE is clamped (or defaulted) with exactly one warning", async () => {
    const cases: [string, number, string][] = [
      ["1.7", 1, "CAVE_OTEL_SAMPLING_RATE=1.7 is outside 0..1; sampling at 1"],
      ["-0.5", 0, "CAVE_OTEL_SAMPLING_RATE=-0.5 is outside 0..1; sampling at 0"],
      ["lots", 1, 'CAVE_OTEL_SAMPLING_RATE="lots" is not a number from 0 to 1; sampling at 1'],
    ];
    for (const [raw, rate, message] of cases) {
      const c = collector();
      stops.push(c.stop);
      const warnings: string[] = [];
      const t = open(c, { CAVE_OTEL_SAMPLING_RATE: raw }, (m) => warnings.push(m));
      for (let i = 0; i < 5; i++) t.startRequest(new Request("http://x/healthz"), "healthz").end(200);
      await t.flush();
      expect(warnings).toEqual([message]);
      expect(t.tracer.samplingRate).toBe(rate);
      expect(spansOf(c.posts).length).toBe(rate === 1 ? 5 : 0);
    }
  });

  test("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT is used as is, over the base endpoint", async () => {
    const c = collector();
    stops.push(c.stop);
    const t = Telemetry.open({
      serviceVersion: "1",
      env: {
        OTEL_EXPORTER_OTLP_ENDPOINT: "http://127.0.0.1:9/",
        OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: `${c.base}/custom/spans`,
      },
    });
    stops.push(() => t.flush());
    t.tracer.startSpan("one").end();
    await t.flush();
    expect(c.posts.map((p) => p.path)).toEqual(["/custom/spans"]);
    expect(t.settings.metricsEndpoint).toBe("http://127.0.0.1:9/v1/metrics");
  });

  test("a full queue drops spans (counted) instead of growing; batches leave at the batch size", async () => {
    const c = collector();
    stops.push(c.stop);
    const t = open(c, { OTEL_BSP_MAX_QUEUE_SIZE: "3", OTEL_BSP_MAX_EXPORT_BATCH_SIZE: "100" });
    for (let i = 0; i < 5; i++) t.tracer.startSpan(`s${i}`).end();
    expect(t.droppedSpans).toBe(2);
    await t.flush();
    expect(spansOf(c.posts).map((s) => s.name)).toEqual(["s0", "s1", "s2"]);

    const c2 = collector();
    stops.push(c2.stop);
    const t2 = open(c2, { OTEL_BSP_MAX_EXPORT_BATCH_SIZE: "2" });
    for (let i = 0; i < 5; i++) t2.tracer.startSpan(`s${i}`).end();
    await t2.flush();
    expect(c2.posts.map((p) => spansOf([p]).length)).toEqual([2, 2, 1]);
  });

  test("a collector that is down costs the caller nothing: failures are counted and warned about once", async () => {
    const gone = collector();
    const base = gone.base;
    gone.stop();
    const warnings: string[] = [];
    const t = Telemetry.open({
      serviceVersion: "1",
      env: { OTEL_EXPORTER_OTLP_ENDPOINT: base },
      warn: (m) => warnings.push(m),
    });
    for (let round = 0; round < 3; round++) {
      const r = t.startRequest(new Request("http://x/healthz"), "healthz");
      r.end(200);
      await t.flush();
    }
    await t.exportMetrics();
    await t.exportMetrics();
    await t.shutdown();
    expect(t.metrics.exportFailures.get({ signal: "traces" })).toBe(3);
    expect(t.metrics.exportFailures.get({ signal: "metrics" })).toBe(3);
    expect(warnings.length).toBe(2);
    expect(warnings[0]).toStartWith("telemetry: exporting traces failed (");
    expect(warnings[1]).toStartWith("telemetry: exporting metrics failed (");
  });

  test("without an endpoint nothing is exported, and spans still carry context for propagation", async () => {
    const t = Telemetry.open({ serviceVersion: "1", env: {} });
    const r = t.startRequest(
      new Request("http://x/healthz", { headers: { traceparent: `00-${"c".repeat(32)}-${"d".repeat(16)}-01` } }),
      "healthz",
    );
    expect(r.span.traceparent()).toMatch(new RegExp(`^00-${"c".repeat(32)}-[0-9a-f]{16}-01$`));
    r.end(200);
    await t.shutdown();
    expect(t.settings.tracesEndpoint).toBeUndefined();
    expect(t.metrics.requests.get({ route: "healthz", method: "GET", status: "200" })).toBe(1);
  });
});

describe("metrics over OTLP/HTTP JSON", () => {
  test("counters arrive as monotonic cumulative sums, histograms with bounds and per-bucket counts, gauges as gauges", async () => {
    const c = collector();
    stops.push(c.stop);
    const t = Telemetry.open({
      serviceVersion: "2.0.0",
      env: { OTEL_EXPORTER_OTLP_ENDPOINT: c.base, CAVE_OTEL_SAMPLING_RATE: "0" },
      sandboxStates: () => ({ running: 2, stopped: 1 }),
    });
    stops.push(() => t.shutdown());
    t.startRequest(new Request("http://x/v1/sandboxes"), "list").end(200);
    t.startRequest(new Request("http://x/v1/sandboxes"), "list").end(200);
    t.startSandbox("exec").end({ reason: "oom", exitCode: 137 });
    await t.exportMetrics();
    const posts = c.posts.filter((p) => p.path === "/v1/metrics");
    expect(posts.length).toBe(1);
    expect(posts[0]?.contentType).toBe("application/json");
    interface Point {
      attributes: { key: string; value: { stringValue: string } }[];
      startTimeUnixNano: string;
      timeUnixNano: string;
      asInt: string;
      count: string;
      bucketCounts: string[];
      explicitBounds: number[];
    }
    interface Data {
      isMonotonic: boolean;
      aggregationTemporality: number;
      dataPoints: Point[];
    }
    type M = { name: string; unit: string; sum: Data; gauge: Data; histogram: Data };
    const body = posts[0]!.body as {
      resourceMetrics: { resource: { attributes: unknown[] }; scopeMetrics: { metrics: M[] }[] }[];
    };
    const rm = body.resourceMetrics[0];
    expect(rm?.resource.attributes).toEqual([
      { key: "service.name", value: { stringValue: "cave" } },
      { key: "service.version", value: { stringValue: "2.0.0" } },
    ]);
    const metrics = Object.fromEntries((rm?.scopeMetrics[0]?.metrics ?? []).map((m) => [m.name, m])) as Record<
      string,
      M
    >;
    const requests = metrics.cave_http_requests_total as M;
    expect(requests.sum.isMonotonic).toBe(true);
    expect(requests.sum.aggregationTemporality).toBe(2);
    expect(requests.sum.dataPoints.length).toBe(1);
    const point = requests.sum.dataPoints[0]!;
    expect(point.asInt).toBe("2");
    expect(point.attributes).toEqual([
      { key: "route", value: { stringValue: "list" } },
      { key: "method", value: { stringValue: "GET" } },
      { key: "status", value: { stringValue: "200" } },
    ]);
    expect(point.startTimeUnixNano).toMatch(/^\d{19}$/);
    expect(BigInt(point.timeUnixNano) >= BigInt(point.startTimeUnixNano)).toBe(true);

    const duration = (metrics.cave_http_request_duration_seconds as M).histogram;
    expect(duration.aggregationTemporality).toBe(2);
    const hp = duration.dataPoints[0]!;
    expect(hp.count).toBe("2");
    expect(hp.explicitBounds.length + 1).toBe(hp.bucketCounts.length);
    expect(hp.bucketCounts.reduce((a, b) => a + Number(b), 0)).toBe(2);
    expect((metrics.cave_http_request_duration_seconds as M).unit).toBe("s");

    const states = (metrics.cave_sandboxes as M).gauge.dataPoints.map((p) => [
      p.attributes[0]!.value.stringValue,
      p.asInt,
    ]);
    expect(states).toEqual([
      ["running", "2"],
      ["stopped", "1"],
    ]);
    expect((metrics.cave_sandboxes as M).gauge.dataPoints[0]!.startTimeUnixNano).toBeUndefined();
    expect((metrics.cave_oom_kills_total as M).sum.dataPoints[0]!.asInt).toBe("1");
    expect((metrics.cave_execs_total as M).sum.dataPoints[0]!.attributes).toEqual([
      { key: "reason", value: { stringValue: "oom" } },
    ]);
  });
});
