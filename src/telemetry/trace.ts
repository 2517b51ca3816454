// Spans, W3C trace context and sampling: the tracing half of cave's OpenTelemetry support,
// written small and dependency-free so `cave serve` pays nothing to load it (and `cave run`
// never loads it: nothing on its path imports src/telemetry). Ended spans go to a sink
// (the OTLP batch exporter in ./otlp.ts); unsampled spans still carry their context so a
// `traceparent` can be passed on with the sampled flag cleared.

/** OTLP's SpanKind numbers (opentelemetry/proto/trace/v1/trace.proto). */
export const SpanKind = { INTERNAL: 1, SERVER: 2, CLIENT: 3 } as const;
export type SpanKindValue = (typeof SpanKind)[keyof typeof SpanKind];

/** OTLP's Status.StatusCode numbers. */
export const StatusCode = { UNSET: 0, OK: 1, ERROR: 2 } as const;
export type StatusCodeValue = (typeof StatusCode)[keyof typeof StatusCode];

export type AttributeValue = string | number | boolean;
export type Attributes = Record<string, AttributeValue>;

/** What crosses process boundaries: the W3C trace context of one span. */
export interface SpanContext {
  traceId: string;
  spanId: string;
  sampled: boolean;
  /** Set when the context came from a `traceparent` header (another process). */
  remote?: boolean;
}

/** An ended span as the exporter needs it; times are Unix epoch nanoseconds. */
export interface SpanData {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name: string;
  kind: SpanKindValue;
  startNs: bigint;
  endNs: bigint;
  attributes: Attributes;
  status: { code: StatusCodeValue; message?: string };
}

export type SpanSink = (span: SpanData) => void;

/** Wall-clock time of a `performance.now()` reading, in Unix epoch nanoseconds. */
export function perfToUnixNs(perfMs: number): bigint {
  const ms = performance.timeOrigin + perfMs;
  const whole = Math.floor(ms);
  // Split so the nanoseconds are not lost to a double's 53 bits (epoch ns need 61).
  return BigInt(whole) * 1_000_000n + BigInt(Math.round((ms - whole) * 1e6));
}

export function nowUnixNs(): bigint {
  return perfToUnixNs(performance.now());
}

function randomHex(bytes: number): string {
  const b = crypto.getRandomValues(new Uint8Array(bytes));
  let s = "";
  for (const x of b) s += x.toString(16).padStart(2, "0");
  // All-zero ids are invalid in W3C trace context; the odds are 2^-64 at worst, but cheap to rule out.
  return /^0+$/.test(s) ? randomHex(bytes) : s;
}

const TRACEPARENT = /^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(-.*)?$/;

/**
 * Parses a W3C `traceparent` header (https://www.w3.org/TR/trace-context/#traceparent-header).
 * Returns null for anything invalid, as the spec asks (the receiver then starts a new trace):
 * version ff, all-zero ids, upper-case hex, extra fields on version 00.
 */
export function parseTraceparent(header: string | null | undefined): SpanContext | null {
  if (!header) return null;
  const m = TRACEPARENT.exec(header.trim());
  if (!m) return null;
  const [, version, traceId, spanId, flags, rest] = m as unknown as [
    string,
    string,
    string,
    string,
    string,
    string | undefined,
  ];
  if (version === "ff") return null;
  if (version === "00" && rest !== undefined) return null;
  if (/^0+$/.test(traceId) || /^0+$/.test(spanId)) return null;
  return { traceId, spanId, sampled: (Number.parseInt(flags, 16) & 1) === 1, remote: true };
}

export function formatTraceparent(ctx: SpanContext): string {
  return `00-${ctx.traceId}-${ctx.spanId}-${ctx.sampled ? "01" : "00"}`;
}

/**
 * Parent-based sampling over a trace-id ratio (OpenTelemetry's ParentBased(TraceIdRatioBased)):
 * a span with a parent follows the parent's decision; a root span is sampled when the trace
 * id's last 56 bits fall under rate × 2^56, so every process deciding on the same trace agrees.
 */
export function sampleRoot(traceId: string, rate: number): boolean {
  if (rate >= 1) return true;
  if (rate <= 0) return false;
  const low = BigInt(`0x${traceId.slice(-14)}`);
  return low < BigInt(Math.floor(rate * 2 ** 56));
}

export interface SpanOptions {
  /** A span of this process or a context from `parseTraceparent`; none starts a new trace. */
  parent?: Span | SpanContext | null;
  attributes?: Attributes;
  kind?: SpanKindValue;
  /** Start time as a `performance.now()` reading (default: now). */
  startTime?: number;
}

export class Span {
  readonly name: string;
  readonly context: SpanContext;
  readonly parentSpanId: string | undefined;
  readonly kind: SpanKindValue;
  readonly startNs: bigint;
  private attributes: Attributes;
  private status: { code: StatusCodeValue; message?: string } = { code: StatusCode.UNSET };
  private ended = false;

  constructor(
    name: string,
    context: SpanContext,
    parentSpanId: string | undefined,
    opts: SpanOptions,
    private readonly sink: SpanSink | null,
  ) {
    this.name = name;
    this.context = context;
    this.parentSpanId = parentSpanId;
    this.kind = opts.kind ?? SpanKind.INTERNAL;
    this.attributes = { ...opts.attributes };
    this.startNs = opts.startTime === undefined ? nowUnixNs() : perfToUnixNs(opts.startTime);
  }

  get sampled(): boolean {
    return this.context.sampled;
  }

  setAttribute(key: string, value: AttributeValue): this {
    if (!this.ended) this.attributes[key] = value;
    return this;
  }

  setAttributes(attrs: Attributes): this {
    for (const [k, val] of Object.entries(attrs)) this.setAttribute(k, val);
    return this;
  }

  /** OK or ERROR (with a message); a span left UNSET is "no verdict", as OpenTelemetry means it. */
  setStatus(code: StatusCodeValue, message?: string): this {
    if (!this.ended) this.status = code === StatusCode.ERROR && message ? { code, message } : { code };
    return this;
  }

  /** The header value that makes a downstream call a child of this span. */
  traceparent(): string {
    return formatTraceparent(this.context);
  }

  /** Ends the span (at `endTime`, a `performance.now()` reading, or now); a second call does nothing. */
  end(endTime?: number): void {
    if (this.ended) return;
    this.ended = true;
    if (!this.context.sampled || !this.sink) return;
    const endNs = endTime === undefined ? nowUnixNs() : perfToUnixNs(endTime);
    this.sink({
      traceId: this.context.traceId,
      spanId: this.context.spanId,
      ...(this.parentSpanId ? { parentSpanId: this.parentSpanId } : {}),
      name: this.name,
      kind: this.kind,
      startNs: this.startNs,
      // biome-ignore lint/complexity/useMathMinMax: Math.max takes no bigints
      endNs: endNs < this.startNs ? this.startNs : endNs,
      attributes: this.attributes,
      status: this.status,
    });
  }
}

export class Tracer {
  constructor(
    private readonly sink: SpanSink | null,
    /** Root sampling rate, 0..1 (already clamped). */
    readonly samplingRate: number,
  ) {}

  startSpan(name: string, opts: SpanOptions = {}): Span {
    const parent = opts.parent instanceof Span ? opts.parent.context : (opts.parent ?? null);
    const traceId = parent?.traceId ?? randomHex(16);
    const sampled = parent ? parent.sampled : sampleRoot(traceId, this.samplingRate);
    const ctx: SpanContext = { traceId, spanId: randomHex(8), sampled };
    return new Span(name, ctx, parent?.spanId, opts, this.sink);
  }
}

/** One mark as src/core/trace.ts records it: a phase's name and the `performance.now()` at which it ended. */
export type PhaseMark = readonly [name: string, at: number];

/**
 * Turns phase marks into child spans of `parent` with their real times. A mark names the
 * phase that just finished ("cgroup prepared" at t): that phase ran from the previous mark
 * (the first from `since`, usually the parent's start) to t. Marks before `since` belong to
 * something earlier and are skipped.
 */
export function phaseSpans(tracer: Tracer, parent: Span, marks: readonly PhaseMark[], since: number): Span[] {
  const spans: Span[] = [];
  let prev = since;
  for (const [name, at] of marks) {
    if (at < since) continue;
    const span = tracer.startSpan(name, { parent, startTime: prev, attributes: { "cave.phase": name } });
    span.end(at);
    spans.push(span);
    prev = at;
  }
  return spans;
}
