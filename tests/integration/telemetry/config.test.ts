// Where telemetry goes: the OTEL_* variables over cave.yaml's `telemetry:` section over the
// defaults, and the section's own checks through the real config loader.
import { describe, expect, test } from "bun:test";
import { parseConfigText } from "../../../src/core/config.ts";
import { isCaveError } from "../../../src/core/errors.ts";
import { resolveTelemetrySettings } from "../../../src/telemetry/config.ts";

const file = parseConfigText(
  "telemetry:\n  endpoint: http://collector:4318/\n  sampling_rate: 0.25\n  metrics_interval: 15s\n  headers: { x-api-key: abc }\n",
  "cave.yaml",
).telemetry;

describe("telemetry settings", () => {
  test("cave.yaml alone: the base endpoint gets /v1/traces and /v1/metrics, its rate and interval are used", () => {
    expect(resolveTelemetrySettings({ env: {}, ...(file ? { file } : {}) })).toEqual({
      tracesEndpoint: "http://collector:4318/v1/traces",
      metricsEndpoint: "http://collector:4318/v1/metrics",
      headers: { "x-api-key": "abc" },
      samplingRate: 0.25,
      serviceName: "cave",
      metricsIntervalMs: 15_000,
      timeoutMs: 10_000,
      maxQueue: 2048,
      maxBatch: 512,
      batchDelayMs: 1000,
    });
  });

  test("the standard variables win over the file; OTEL_SDK_DISABLED turns export off", () => {
    const env = {
      OTEL_EXPORTER_OTLP_ENDPOINT: "https://otlp.example.com",
      OTEL_EXPORTER_OTLP_METRICS_ENDPOINT: "https://m.example.com/ingest",
      OTEL_EXPORTER_OTLP_HEADERS: "authorization=Bearer%20t0k,x-api-key=def",
      CAVE_OTEL_SAMPLING_RATE: "0.5",
      OTEL_SERVICE_NAME: "cave-eu",
    };
    const s = resolveTelemetrySettings({ env, ...(file ? { file } : {}) });
    expect([s.tracesEndpoint, s.metricsEndpoint, s.headers, s.samplingRate, s.serviceName]).toEqual([
      "https://otlp.example.com/v1/traces",
      "https://m.example.com/ingest",
      { "x-api-key": "def", authorization: "Bearer t0k" },
      0.5,
      "cave-eu",
    ]);
    const off = resolveTelemetrySettings({ env: { ...env, OTEL_SDK_DISABLED: "true" } });
    expect([off.tracesEndpoint, off.metricsEndpoint]).toEqual([undefined, undefined]);
  });

  test("a CAVE_OTEL_SAMPLING_RATE that is not a number falls back to the file's rate, with one warning", () => {
    const warnings: string[] = [];
    const s = resolveTelemetrySettings({
      env: { CAVE_OTEL_SAMPLING_RATE: "half" },
      ...(file ? { file } : {}),
      warn: (m) => warnings.push(m),
    });
    expect(s.samplingRate).toBe(0.25);
    expect(warnings).toEqual(['CAVE_OTEL_SAMPLING_RATE="half" is not a number from 0 to 1; sampling at 0.25']);
  });

  test("cave.yaml's section refuses a rate outside 0..1 and unknown keys", () => {
    const refusal = (text: string) => {
      try {
        parseConfigText(text, "cave.yaml");
      } catch (e) {
        if (isCaveError(e)) return e.message;
        throw e;
      }
      return "accepted";
    };
    expect(refusal("telemetry:\n  sampling_rate: 2\n")).toBe(
      "cave.yaml:2:18: telemetry.sampling_rate: must be from 0 to 1",
    );
    expect(refusal("telemetry:\n  endpoint: http://127.0.0.1:4318\n  bogus: 1\n")).toBe(
      "cave.yaml:3:3: telemetry.bogus: unknown key (allowed: endpoint, traces_endpoint, metrics_endpoint, headers, sampling_rate, metrics_interval)",
    );
  });
});
