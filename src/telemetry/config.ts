// Where telemetry goes and how much of it: the standard OpenTelemetry environment variables
// over cave.yaml's `telemetry:` section over the defaults. CAVE_OTEL_SAMPLING_RATE is cave's
// own: a value outside 0..1 (or not a number) is clamped, with one warning, rather than
// refusing to start a server over its telemetry.
import type { TelemetryConfig } from "../../schema/config.ts";
import { parseDuration } from "../core/units.ts";

export interface TelemetrySettings {
  /** Full URL for spans (…/v1/traces); absent: no trace export. */
  tracesEndpoint?: string;
  /** Full URL for metrics (…/v1/metrics); absent: no metrics export (/metrics still works). */
  metricsEndpoint?: string;
  headers: Record<string, string>;
  /** Root sampling probability, 0..1. */
  samplingRate: number;
  serviceName: string;
  metricsIntervalMs: number;
  timeoutMs: number;
  maxQueue: number;
  maxBatch: number;
  batchDelayMs: number;
}

export const TELEMETRY_DEFAULTS = {
  samplingRate: 1,
  serviceName: "cave",
  metricsIntervalMs: 60_000,
  timeoutMs: 10_000,
  maxQueue: 2048,
  maxBatch: 512,
  batchDelayMs: 1000,
} as const;

/** "0.25" → 0.25; "2" → 1 and "-1" → 0 and "x" → the fallback, each with a warning. */
export function clampSamplingRate(raw: string | number, fallback: number, warn: (m: string) => void): number {
  const n = typeof raw === "number" ? raw : raw.trim() === "" ? Number.NaN : Number(raw);
  if (Number.isNaN(n)) {
    warn(`CAVE_OTEL_SAMPLING_RATE=${JSON.stringify(String(raw))} is not a number from 0 to 1; sampling at ${fallback}`);
    return fallback;
  }
  if (n < 0 || n > 1) {
    const clamped = n < 0 ? 0 : 1;
    warn(`CAVE_OTEL_SAMPLING_RATE=${raw} is outside 0..1; sampling at ${clamped}`);
    return clamped;
  }
  return n;
}

/** OTEL_EXPORTER_OTLP_HEADERS: "k1=v1,k2=v2" with URL-encoded values (the OTel spec's format). */
export function parseOtlpHeaders(text: string | undefined, warn: (m: string) => void): Record<string, string> {
  const out: Record<string, string> = {};
  if (!text) return out;
  for (const part of text.split(",")) {
    if (part.trim() === "") continue;
    const eq = part.indexOf("=");
    if (eq <= 0) {
      warn(`OTEL_EXPORTER_OTLP_HEADERS: ignoring ${JSON.stringify(part.trim())} (use key=value)`);
      continue;
    }
    try {
      out[decodeURIComponent(part.slice(0, eq).trim())] = decodeURIComponent(part.slice(eq + 1).trim());
    } catch {
      warn(`OTEL_EXPORTER_OTLP_HEADERS: ignoring ${JSON.stringify(part.trim())} (bad URL encoding)`);
    }
  }
  return out;
}

/** The base endpoint plus a signal's path, as the OTel spec says (`/v1/traces` appended to the base). */
function signalUrl(base: string, path: string): string {
  return `${base.replace(/\/+$/, "")}${path}`;
}

const positiveInt = (raw: string | undefined): number | undefined => {
  const n = raw === undefined ? Number.NaN : Number(raw);
  return Number.isInteger(n) && n > 0 ? n : undefined;
};

export function resolveTelemetrySettings(opts: {
  env?: Record<string, string | undefined>;
  file?: TelemetryConfig;
  warn?: (m: string) => void;
}): TelemetrySettings {
  const env = opts.env ?? process.env;
  const file = opts.file ?? {};
  // One warning per cause: a server that re-reads settings must not repeat itself.
  const seen = new Set<string>();
  const warn = (m: string) => {
    if (seen.has(m)) return;
    seen.add(m);
    opts.warn?.(m);
  };
  const disabled = env.OTEL_SDK_DISABLED?.trim().toLowerCase() === "true";
  const base = env.OTEL_EXPORTER_OTLP_ENDPOINT || file.endpoint;
  const traces =
    env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT ||
    file.traces_endpoint ||
    (base ? signalUrl(base, "/v1/traces") : undefined);
  const metrics =
    env.OTEL_EXPORTER_OTLP_METRICS_ENDPOINT ||
    file.metrics_endpoint ||
    (base ? signalUrl(base, "/v1/metrics") : undefined);
  const rateRaw = env.CAVE_OTEL_SAMPLING_RATE;
  const samplingRate =
    rateRaw !== undefined && rateRaw !== ""
      ? clampSamplingRate(rateRaw, file.sampling_rate ?? TELEMETRY_DEFAULTS.samplingRate, warn)
      : (file.sampling_rate ?? TELEMETRY_DEFAULTS.samplingRate);
  const interval = file.metrics_interval !== undefined ? parseDuration(file.metrics_interval) : undefined;
  return {
    ...(traces && !disabled ? { tracesEndpoint: traces } : {}),
    ...(metrics && !disabled ? { metricsEndpoint: metrics } : {}),
    headers: { ...file.headers, ...parseOtlpHeaders(env.OTEL_EXPORTER_OTLP_HEADERS, warn) },
    samplingRate,
    serviceName: env.OTEL_SERVICE_NAME || TELEMETRY_DEFAULTS.serviceName,
    metricsIntervalMs: positiveInt(env.OTEL_METRIC_EXPORT_INTERVAL) ?? interval ?? TELEMETRY_DEFAULTS.metricsIntervalMs,
    timeoutMs: positiveInt(env.OTEL_EXPORTER_OTLP_TIMEOUT) ?? TELEMETRY_DEFAULTS.timeoutMs,
    maxQueue: positiveInt(env.OTEL_BSP_MAX_QUEUE_SIZE) ?? TELEMETRY_DEFAULTS.maxQueue,
    maxBatch: positiveInt(env.OTEL_BSP_MAX_EXPORT_BATCH_SIZE) ?? TELEMETRY_DEFAULTS.maxBatch,
    batchDelayMs: positiveInt(env.OTEL_BSP_SCHEDULE_DELAY) ?? TELEMETRY_DEFAULTS.batchDelayMs,
  };
}
