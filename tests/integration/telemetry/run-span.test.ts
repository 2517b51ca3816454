// `cave run` (the compiled binary) exports one span to a real OTLP/HTTP receiver on loopback when
// OTEL_EXPORTER_OTLP_ENDPOINT is set: sandbox.run from process start, the start-up phases as its
// children, the outcome as attributes, the caller's TRACEPARENT as its parent. Without the
// variable nothing is sent (and the telemetry code is never loaded: tests/unit/layering.test.ts).
import { afterEach, describe, expect, test } from "bun:test";
import { cave } from "../../helpers/cave.ts";

interface OtlpSpan {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name: string;
  startTimeUnixNano: string;
  endTimeUnixNano: string;
  attributes: { key: string; value: Record<string, unknown> }[];
}

const servers: ReturnType<typeof Bun.serve>[] = [];
afterEach(() => {
  for (const s of servers.splice(0)) s.stop(true);
});

function receiver() {
  const spans: OtlpSpan[] = [];
  const server = Bun.serve({
    port: 0,
    hostname: "127.0.0.1",
    async fetch(req) {
      if (new URL(req.url).pathname === "/v1/traces") {
        const body = (await req.json()) as { resourceSpans: { scopeSpans: { spans: OtlpSpan[] }[] }[] };
        for (const r of body.resourceSpans) for (const s of r.scopeSpans) spans.push(...s.spans);
      }
      return Response.json({});
    },
  });
  servers.push(server);
  return { url: `http://127.0.0.1:${server.port}`, spans };
}

const attr = (s: OtlpSpan, key: string) => s.attributes.find((a) => a.key === key)?.value;
const root = process.getuid?.() === 0;

describe.skipIf(!root)(`cave run's span${root ? "" : " (skipped: the sandbox tests run as root)"}`, () => {
  test("one sandbox.run span with its start-up phases as children, under the caller's TRACEPARENT", async () => {
    const r = receiver();
    const traceId = "4bf92f3577b34da6a3ce929d0e0e4736";
    const before = BigInt(Date.now()) * 1_000_000n;
    const run = await cave(["run", "--", "sh", "-c", "exit 3"], {
      env: { OTEL_EXPORTER_OTLP_ENDPOINT: r.url, TRACEPARENT: `00-${traceId}-00f067aa0ba902b7-01` },
    });
    expect(run.exitCode).toBe(3);
    const top = r.spans.find((s) => s.name === "sandbox.run");
    expect(top).toBeDefined();
    if (!top) return;
    expect([top.traceId, top.parentSpanId]).toEqual([traceId, "00f067aa0ba902b7"]);
    expect(attr(top, "process.exit.code")).toEqual({ intValue: "3" });
    expect(attr(top, "process.executable.name")).toEqual({ stringValue: "sh" });
    // from process start (a little before the test's clock read ends the spawn) to the end
    expect(BigInt(top.startTimeUnixNano)).toBeGreaterThan(before - 1_000_000_000n);
    const phases = r.spans.filter((s) => s.parentSpanId === top.spanId).map((s) => s.name);
    for (const name of [
      "cli loaded",
      "settings resolved",
      "plan built",
      "sandbox cloned",
      "command exited",
      "sandbox finished",
    ]) {
      expect(phases).toContain(name);
    }
    for (const s of r.spans.filter((x) => x.parentSpanId === top.spanId)) {
      expect(BigInt(s.startTimeUnixNano) >= BigInt(top.startTimeUnixNano)).toBe(true);
      expect(BigInt(s.endTimeUnixNano) <= BigInt(top.endTimeUnixNano)).toBe(true);
    }
  });

  test("without an endpoint nothing is sent; OTEL_SDK_DISABLED=true turns a configured one off", async () => {
    const r = receiver();
    expect((await cave(["run", "--", "true"])).exitCode).toBe(0);
    const off = await cave(["run", "--", "true"], {
      env: { OTEL_EXPORTER_OTLP_ENDPOINT: r.url, OTEL_SDK_DISABLED: "true" },
    });
    expect(off.exitCode).toBe(0);
    expect(r.spans).toEqual([]);
  });

  test("an endpoint that does not answer costs a warning, never the command's exit code", async () => {
    const run = await cave(["run", "--", "sh", "-c", "exit 5"], {
      env: { OTEL_EXPORTER_OTLP_ENDPOINT: "http://127.0.0.1:9", OTEL_EXPORTER_OTLP_TIMEOUT: "500" },
    });
    expect(run.exitCode).toBe(5);
  });
});
