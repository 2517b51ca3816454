// A small metrics registry (counter, gauge, histogram with explicit buckets) read two ways:
// the Prometheus text exposition format for `/metrics` (renderPrometheus) and OTLP metric
// data points for the OTLP/HTTP exporter (collect). Values are cumulative since the registry
// was made, which is what both a Prometheus scrape and OTLP's cumulative temporality expect.

export type Labels = Record<string, string>;

const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

export type MetricKind = "counter" | "gauge" | "histogram";

export interface Sample {
  labels: Labels;
  value: number;
}

export interface HistogramSample {
  labels: Labels;
  /** Per bucket, not cumulative: counts[i] observations ≤ bounds[i] and > bounds[i-1]; the last is (bounds[n-1], +Inf). */
  counts: number[];
  sum: number;
  count: number;
}

export type MetricSnapshot =
  | { kind: "counter" | "gauge"; name: string; help: string; unit: string; samples: Sample[] }
  | { kind: "histogram"; name: string; help: string; unit: string; bounds: number[]; samples: HistogramSample[] };

function key(labelNames: readonly string[], labels: Labels): string {
  return labelNames.map((n) => labels[n] ?? "").join("\u0000");
}

function checkLabels(metric: string, labelNames: readonly string[], labels: Labels): void {
  for (const k of Object.keys(labels)) {
    if (!labelNames.includes(k))
      throw new Error(`metric ${metric}: unknown label ${k} (declared: ${labelNames.join(", ") || "none"})`);
  }
}

abstract class Metric {
  constructor(
    readonly name: string,
    readonly help: string,
    readonly labelNames: readonly string[],
    readonly unit: string,
  ) {
    if (!NAME.test(name)) throw new Error(`invalid metric name ${JSON.stringify(name)}`);
    for (const l of labelNames) {
      if (!LABEL.test(l) || l.startsWith("__") || l === "le")
        throw new Error(`metric ${name}: invalid label name ${JSON.stringify(l)}`);
    }
  }
  abstract snapshot(): MetricSnapshot;
}

export class Counter extends Metric {
  private readonly values = new Map<string, Sample>();

  inc(labels: Labels = {}, by = 1): void {
    if (!(by >= 0)) throw new Error(`counter ${this.name}: cannot add ${by}`);
    checkLabels(this.name, this.labelNames, labels);
    const k = key(this.labelNames, labels);
    const s = this.values.get(k);
    if (s) s.value += by;
    else this.values.set(k, { labels: { ...labels }, value: by });
  }

  get(labels: Labels = {}): number {
    return this.values.get(key(this.labelNames, labels))?.value ?? 0;
  }

  snapshot(): MetricSnapshot {
    return {
      kind: "counter",
      name: this.name,
      help: this.help,
      unit: this.unit,
      samples: [...this.values.values()].map((s) => ({ ...s })),
    };
  }
}

export class Gauge extends Metric {
  private readonly values = new Map<string, Sample>();

  constructor(
    name: string,
    help: string,
    labelNames: readonly string[],
    unit: string,
    private readonly callback?: () => Sample[],
  ) {
    super(name, help, labelNames, unit);
  }

  set(labels: Labels, value: number): void {
    checkLabels(this.name, this.labelNames, labels);
    this.values.set(key(this.labelNames, labels), { labels: { ...labels }, value });
  }

  snapshot(): MetricSnapshot {
    // A callback that throws must not take the whole scrape down; its samples are left out.
    let fromCallback: Sample[] = [];
    if (this.callback) {
      try {
        fromCallback = this.callback();
      } catch {
        fromCallback = [];
      }
    }
    return {
      kind: "gauge",
      name: this.name,
      help: this.help,
      unit: this.unit,
      samples: [...[...this.values.values()].map((s) => ({ ...s })), ...fromCallback],
    };
  }
}

export class Histogram extends Metric {
  private readonly values = new Map<string, HistogramSample>();
  readonly bounds: number[];

  constructor(name: string, help: string, labelNames: readonly string[], unit: string, bounds: readonly number[]) {
    super(name, help, labelNames, unit);
    const sorted = [...bounds].sort((a, b) => a - b);
    if (sorted.length === 0 || sorted.some((b, i) => !Number.isFinite(b) || (i > 0 && b === sorted[i - 1]))) {
      throw new Error(`histogram ${name}: buckets must be distinct finite numbers`);
    }
    this.bounds = sorted;
  }

  observe(labels: Labels, value: number): void {
    checkLabels(this.name, this.labelNames, labels);
    const k = key(this.labelNames, labels);
    let s = this.values.get(k);
    if (!s) {
      s = { labels: { ...labels }, counts: new Array(this.bounds.length + 1).fill(0), sum: 0, count: 0 };
      this.values.set(k, s);
    }
    let i = this.bounds.findIndex((b) => value <= b);
    if (i < 0) i = this.bounds.length;
    s.counts[i] = (s.counts[i] ?? 0) + 1;
    s.sum += value;
    s.count += 1;
  }

  snapshot(): MetricSnapshot {
    return {
      kind: "histogram",
      name: this.name,
      help: this.help,
      unit: this.unit,
      bounds: [...this.bounds],
      samples: [...this.values.values()].map((s) => ({ ...s, labels: { ...s.labels }, counts: [...s.counts] })),
    };
  }
}

export interface MetricOptions {
  help: string;
  labels?: readonly string[];
  /** UCUM unit for OTLP ("s", "By", "1"); Prometheus carries it in the name instead. */
  unit?: string;
}

export class Registry {
  private readonly metrics = new Map<string, Metric>();
  /** When the cumulative values started (OTLP's startTimeUnixNano). */
  readonly startNs: bigint;

  constructor(startNs: bigint = BigInt(Date.now()) * 1_000_000n) {
    this.startNs = startNs;
  }

  private add<M extends Metric>(m: M): M {
    if (this.metrics.has(m.name)) throw new Error(`metric ${m.name} is registered twice`);
    this.metrics.set(m.name, m);
    return m;
  }

  counter(name: string, o: MetricOptions): Counter {
    return this.add(new Counter(name, o.help, o.labels ?? [], o.unit ?? "1"));
  }

  gauge(name: string, o: MetricOptions & { collect?: () => Sample[] }): Gauge {
    return this.add(new Gauge(name, o.help, o.labels ?? [], o.unit ?? "1", o.collect));
  }

  histogram(name: string, o: MetricOptions & { buckets: readonly number[] }): Histogram {
    return this.add(new Histogram(name, o.help, o.labels ?? [], o.unit ?? "1", o.buckets));
  }

  collect(): MetricSnapshot[] {
    return [...this.metrics.values()].map((m) => m.snapshot());
  }
}

// --- Prometheus text exposition format 0.0.4 ---
// https://prometheus.io/docs/instrumenting/exposition_formats/#text-based-format

export const PROMETHEUS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8";

/** HELP text: backslash and newline escaped. */
function escapeHelp(s: string): string {
  return s.replace(/\\/g, "\\\\").replace(/\n/g, "\\n");
}

/** Label values: backslash, double quote and newline escaped. */
export function escapeLabelValue(s: string): string {
  return s.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n");
}

/** A sample value as Prometheus (Go's ParseFloat) reads it: +Inf, -Inf, NaN, or a plain number. */
export function formatValue(n: number): string {
  if (Number.isNaN(n)) return "NaN";
  if (n === Number.POSITIVE_INFINITY) return "+Inf";
  if (n === Number.NEGATIVE_INFINITY) return "-Inf";
  return String(n);
}

function labelSet(labels: Labels, extra?: [string, string]): string {
  const pairs = Object.entries(labels).map(([k, val]) => `${k}="${escapeLabelValue(val)}"`);
  if (extra) pairs.push(`${extra[0]}="${escapeLabelValue(extra[1])}"`);
  return pairs.length ? `{${pairs.join(",")}}` : "";
}

export function renderPrometheus(registry: Registry): string {
  const out: string[] = [];
  for (const m of registry.collect()) {
    out.push(`# HELP ${m.name} ${escapeHelp(m.help)}`);
    out.push(`# TYPE ${m.name} ${m.kind}`);
    if (m.kind === "histogram") {
      for (const s of m.samples) {
        let cumulative = 0;
        m.bounds.forEach((b, i) => {
          cumulative += s.counts[i] ?? 0;
          out.push(`${m.name}_bucket${labelSet(s.labels, ["le", formatValue(b)])} ${cumulative}`);
        });
        out.push(`${m.name}_bucket${labelSet(s.labels, ["le", "+Inf"])} ${s.count}`);
        out.push(`${m.name}_sum${labelSet(s.labels)} ${formatValue(s.sum)}`);
        out.push(`${m.name}_count${labelSet(s.labels)} ${s.count}`);
      }
    } else {
      for (const s of m.samples) out.push(`${m.name}${labelSet(s.labels)} ${formatValue(s.value)}`);
    }
  }
  return out.length ? `${out.join("\n")}\n` : "";
}
