// OTLP/HTTP with the JSON encoding (https://opentelemetry.io/docs/specs/otlp/#json-protobuf-encoding):
// POST /v1/traces and /v1/metrics, Content-Type application/json. The JSON mapping of the
// protobuf schema: trace and span ids as hex strings (not base64), 64-bit integers (times in
// Unix nanoseconds, counts) as decimal strings, enums as their numbers, lowerCamelCase fields.
// Spans wait in a bounded queue and leave in batches; an export that fails is counted and
// warned about once, and never reaches the request that made the span.
import type { MetricSnapshot } from "./metrics.ts";
import type { Attributes, AttributeValue, SpanData } from "./trace.ts";

type AnyValue = { stringValue: string } | { boolValue: boolean } | { intValue: string } | { doubleValue: number };
export interface KeyValue {
  key: string;
  value: AnyValue;
}

function anyValue(v: AttributeValue): AnyValue {
  if (typeof v === "string") return { stringValue: v };
  if (typeof v === "boolean") return { boolValue: v };
  return Number.isInteger(v) ? { intValue: String(v) } : { doubleValue: v };
}

export function keyValues(attrs: Attributes): KeyValue[] {
  return Object.entries(attrs).map(([key, v]) => ({ key, value: anyValue(v) }));
}

export interface Resource {
  serviceName: string;
  serviceVersion: string;
  attributes?: Attributes;
}

function resourceJson(r: Resource) {
  return {
    attributes: keyValues({ ...r.attributes, "service.name": r.serviceName, "service.version": r.serviceVersion }),
  };
}

const scope = (r: Resource) => ({ name: "cave", version: r.serviceVersion });

export function encodeTraces(resource: Resource, spans: readonly SpanData[]) {
  return {
    resourceSpans: [
      {
        resource: resourceJson(resource),
        scopeSpans: [
          {
            scope: scope(resource),
            spans: spans.map((s) => ({
              traceId: s.traceId,
              spanId: s.spanId,
              ...(s.parentSpanId ? { parentSpanId: s.parentSpanId } : {}),
              name: s.name,
              kind: s.kind,
              startTimeUnixNano: String(s.startNs),
              endTimeUnixNano: String(s.endNs),
              attributes: keyValues(s.attributes),
              status: s.status.message ? { code: s.status.code, message: s.status.message } : { code: s.status.code },
            })),
          },
        ],
      },
    ],
  };
}

const AGGREGATION_TEMPORALITY_CUMULATIVE = 2;

function numberPoint(value: number): { asInt: string } | { asDouble: number } {
  return Number.isInteger(value) ? { asInt: String(value) } : { asDouble: value };
}

export function encodeMetrics(resource: Resource, metrics: readonly MetricSnapshot[], startNs: bigint, nowNs: bigint) {
  const times = { startTimeUnixNano: String(startNs), timeUnixNano: String(nowNs) };
  return {
    resourceMetrics: [
      {
        resource: resourceJson(resource),
        scopeMetrics: [
          {
            scope: scope(resource),
            metrics: metrics.map((m) => {
              const head = { name: m.name, description: m.help, unit: m.unit };
              if (m.kind === "histogram") {
                return {
                  ...head,
                  histogram: {
                    aggregationTemporality: AGGREGATION_TEMPORALITY_CUMULATIVE,
                    dataPoints: m.samples.map((s) => ({
                      attributes: keyValues(s.labels),
                      ...times,
                      count: String(s.count),
                      sum: s.sum,
                      bucketCounts: s.counts.map(String),
                      explicitBounds: m.bounds,
                    })),
                  },
                };
              }
              const dataPoints = m.samples.map((s) => ({
                attributes: keyValues(s.labels),
                ...times,
                ...numberPoint(s.value),
              }));
              if (m.kind === "counter") {
                return {
                  ...head,
                  sum: { aggregationTemporality: AGGREGATION_TEMPORALITY_CUMULATIVE, isMonotonic: true, dataPoints },
                };
              }
              // A gauge has no start time in OTLP.
              return { ...head, gauge: { dataPoints: dataPoints.map(({ startTimeUnixNano: _s, ...p }) => p) } };
            }),
          },
        ],
      },
    ],
  };
}

export interface PostOptions {
  url: string;
  headers: Record<string, string>;
  timeoutMs: number;
  fetch: typeof fetch;
}

/** One POST; throws on a network error, a timeout or a status other than 2xx. */
export async function postJson(o: PostOptions, body: unknown): Promise<void> {
  const res = await o.fetch(o.url, {
    method: "POST",
    headers: { ...o.headers, "content-type": "application/json" },
    body: JSON.stringify(body),
    signal: AbortSignal.timeout(o.timeoutMs),
  });
  // The body is read so the connection goes back to the pool.
  await res.arrayBuffer().catch(() => undefined);
  if (!res.ok) throw new Error(`${o.url} answered ${res.status}`);
}

export interface BatchOptions {
  post: PostOptions;
  resource: Resource;
  /** Spans kept while waiting for export; past it new spans are dropped (and counted). */
  maxQueue: number;
  maxBatch: number;
  /** How long a span may wait before its batch leaves. */
  delayMs: number;
  onFailure: (what: string, error: unknown) => void;
}

/** The span queue: a batch leaves when it is full or after `delayMs`; `flush` sends everything now. */
export class BatchSpanExporter {
  private queue: SpanData[] = [];
  private timer: ReturnType<typeof setTimeout> | null = null;
  private inflight = new Set<Promise<void>>();
  dropped = 0;
  exported = 0;

  constructor(private readonly o: BatchOptions) {}

  readonly add = (span: SpanData): void => {
    if (this.queue.length >= this.o.maxQueue) {
      this.dropped++;
      return;
    }
    this.queue.push(span);
    if (this.queue.length >= this.o.maxBatch) this.sendBatch();
    else if (!this.timer) {
      this.timer = setTimeout(() => {
        this.timer = null;
        this.sendBatch();
      }, this.o.delayMs);
      // A pending batch must not keep a process alive; shutdown flushes it.
      this.timer.unref?.();
    }
  };

  private sendBatch(): void {
    if (this.timer) {
      clearTimeout(this.timer);
      this.timer = null;
    }
    while (this.queue.length) {
      const batch = this.queue.splice(0, this.o.maxBatch);
      const p = postJson(this.o.post, encodeTraces(this.o.resource, batch))
        .then(() => {
          this.exported += batch.length;
        })
        .catch((e) => this.o.onFailure("traces", e))
        .finally(() => this.inflight.delete(p));
      this.inflight.add(p);
    }
  }

  /** Sends what is queued and waits for every export under way. */
  async flush(): Promise<void> {
    this.sendBatch();
    await Promise.all([...this.inflight]);
  }
}
