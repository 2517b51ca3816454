// cave's telemetry as the server uses it: one Telemetry per process holding the tracer, the
// metrics registry with cave's instruments, the OTLP/HTTP exporters and the helpers the
// request path and the sandbox lifecycle call (one span per API request; one per sandbox
// run/start/exec with its setup phases as child spans). Nothing here may fail a request:
// export errors are counted (cave_telemetry_export_failures_total) and warned about once.
import type { TelemetryConfig } from "../../schema/config.ts";
import { resolveTelemetrySettings, type TelemetrySettings } from "./config.ts";
import {
  type Counter,
  type Gauge,
  type Histogram,
  PROMETHEUS_CONTENT_TYPE,
  Registry,
  renderPrometheus,
} from "./metrics.ts";
import { BatchSpanExporter, encodeMetrics, postJson, type Resource } from "./otlp.ts";
import {
  type Attributes,
  nowUnixNs,
  type PhaseMark,
  parseTraceparent,
  phaseSpans,
  type Span,
  type SpanContext,
  SpanKind,
  StatusCode,
  Tracer,
} from "./trace.ts";

export { clampSamplingRate, resolveTelemetrySettings, type TelemetrySettings } from "./config.ts";
export { PROMETHEUS_CONTENT_TYPE, Registry, renderPrometheus } from "./metrics.ts";
export {
  formatTraceparent,
  type PhaseMark,
  parseTraceparent,
  phaseSpans,
  Span,
  SpanKind,
  StatusCode,
  Tracer,
} from "./trace.ts";

/** Seconds: from a 2 ms health check to a 10 s exec. */
export const REQUEST_DURATION_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];

/** cave's own instruments, shared by /metrics and the OTLP metrics export. */
export interface CaveMetrics {
  requests: Counter;
  requestDuration: Histogram;
  sandboxes: Gauge;
  execs: Counter;
  runs: Counter;
  oomKills: Counter;
  timeouts: Counter;
  rateLimitRejections: Counter;
  exportFailures: Counter;
}

function caveMetrics(r: Registry): CaveMetrics {
  return {
    requests: r.counter("cave_http_requests_total", {
      help: "API requests answered, by route name, method and status code.",
      labels: ["route", "method", "status"],
    }),
    requestDuration: r.histogram("cave_http_request_duration_seconds", {
      help: "Time from a request's arrival to its response's status, by route name and method.",
      labels: ["route", "method"],
      unit: "s",
      buckets: REQUEST_DURATION_BUCKETS,
    }),
    sandboxes: r.gauge("cave_sandboxes", { help: "Persistent sandboxes by state.", labels: ["state"] }),
    execs: r.counter("cave_execs_total", {
      help: "Commands run in persistent sandboxes (exec), by how they ended.",
      labels: ["reason"],
    }),
    runs: r.counter("cave_sandbox_starts_total", {
      help: "Sandbox starts and one-shot runs, by outcome (ok or error).",
      labels: ["outcome"],
    }),
    oomKills: r.counter("cave_oom_kills_total", {
      help: "Runs and execs ended by the out-of-memory killer.",
      labels: ["kind"],
    }),
    timeouts: r.counter("cave_timeouts_total", {
      help: "Runs and execs killed at their time limit.",
      labels: ["kind"],
    }),
    rateLimitRejections: r.counter("cave_rate_limit_rejections_total", {
      help: "Requests refused with 429 by the per-key rate limit, by role.",
      labels: ["role"],
    }),
    exportFailures: r.counter("cave_telemetry_export_failures_total", {
      help: "OTLP exports that failed, by signal (traces, metrics).",
      labels: ["signal"],
    }),
  };
}

export interface TelemetryOptions {
  /** cave's version (service.version). */
  serviceVersion: string;
  /** cave.yaml's `telemetry:` section. */
  config?: TelemetryConfig;
  /** Default process.env. */
  env?: Record<string, string | undefined>;
  /** Already resolved settings instead of config + env. */
  settings?: TelemetrySettings;
  fetch?: typeof fetch;
  warn?: (message: string) => void;
  /** Counts of persistent sandboxes by state, read at each scrape/export. */
  sandboxStates?: () => Promise<Record<string, number>> | Record<string, number>;
}

/** What the server keeps while it answers one request. */
export interface RequestObservation {
  span: Span;
  /** Records the response (status) and ends the span; call once, with the error when the handler threw. */
  end(status: number, error?: unknown): void;
}

/** What the lifecycle keeps while one sandbox run, start or exec goes on. */
export interface SandboxObservation {
  span: Span;
  /** Adds the setup phases as child spans: marks as src/core/trace.ts records them (name, performance.now() at the phase's end). */
  phases(marks: readonly PhaseMark[]): void;
  /** Records the outcome (a RunResult's reason and exit code, or the error) and ends the span. */
  end(outcome: { reason?: string; exitCode?: number } | { error: unknown }): void;
}

export class Telemetry {
  readonly settings: TelemetrySettings;
  readonly tracer: Tracer;
  readonly registry: Registry;
  readonly metrics: CaveMetrics;
  private readonly resource: Resource;
  private readonly spans: BatchSpanExporter | null;
  private readonly fetch: typeof fetch;
  private readonly warn: (m: string) => void;
  private readonly sandboxStates: TelemetryOptions["sandboxStates"];
  private readonly warned = new Set<string>();
  private metricsTimer: ReturnType<typeof setInterval> | null = null;
  private metricsInflight: Promise<void> | null = null;
  private seenStates = new Set<string>();
  private closed = false;

  static open(opts: TelemetryOptions): Telemetry {
    return new Telemetry(opts);
  }

  private constructor(opts: TelemetryOptions) {
    this.warn = opts.warn ?? (() => {});
    this.settings =
      opts.settings ??
      resolveTelemetrySettings({
        ...(opts.env ? { env: opts.env } : {}),
        ...(opts.config ? { file: opts.config } : {}),
        warn: this.warn,
      });
    this.fetch = opts.fetch ?? fetch;
    this.sandboxStates = opts.sandboxStates;
    this.resource = { serviceName: this.settings.serviceName, serviceVersion: opts.serviceVersion };
    this.registry = new Registry();
    this.metrics = caveMetrics(this.registry);
    const s = this.settings;
    this.spans = s.tracesEndpoint
      ? new BatchSpanExporter({
          post: { url: s.tracesEndpoint, headers: s.headers, timeoutMs: s.timeoutMs, fetch: this.fetch },
          resource: this.resource,
          maxQueue: s.maxQueue,
          maxBatch: s.maxBatch,
          delayMs: s.batchDelayMs,
          onFailure: (what, e) => this.exportFailed(what, e),
        })
      : null;
    this.tracer = new Tracer(this.spans?.add ?? null, s.samplingRate);
    if (s.metricsEndpoint) {
      this.metricsTimer = setInterval(() => void this.exportMetrics(), s.metricsIntervalMs);
      this.metricsTimer.unref?.();
    }
  }

  private exportFailed(signal: string, e: unknown): void {
    this.metrics.exportFailures.inc({ signal });
    if (this.warned.has(signal)) return;
    this.warned.add(signal);
    this.warn(
      `telemetry: exporting ${signal} failed (${e instanceof Error ? e.message : String(e)}); requests go on, further failures are only counted in cave_telemetry_export_failures_total`,
    );
  }

  /** Spans dropped because the export queue was full. */
  get droppedSpans(): number {
    return this.spans?.dropped ?? 0;
  }

  private async refreshSandboxStates(): Promise<void> {
    if (!this.sandboxStates) return;
    let counts: Record<string, number>;
    try {
      counts = await this.sandboxStates();
    } catch {
      return; // the scrape still answers with the rest
    }
    // A state that emptied reads 0 rather than vanishing from the series.
    for (const state of this.seenStates) if (!(state in counts)) this.metrics.sandboxes.set({ state }, 0);
    for (const [state, n] of Object.entries(counts)) {
      this.seenStates.add(state);
      this.metrics.sandboxes.set({ state }, n);
    }
  }

  /** The Prometheus text exposition of every metric (what GET /metrics answers). */
  async renderPrometheus(): Promise<string> {
    await this.refreshSandboxStates();
    return renderPrometheus(this.registry);
  }

  /** A ready GET /metrics response. */
  async metricsResponse(): Promise<Response> {
    return new Response(await this.renderPrometheus(), {
      status: 200,
      headers: { "content-type": PROMETHEUS_CONTENT_TYPE },
    });
  }

  /** Sends the metrics once over OTLP now (the interval timer calls it too). */
  async exportMetrics(): Promise<void> {
    const url = this.settings.metricsEndpoint;
    if (!url) return;
    // One export at a time: a slow collector must not pile up overlapping POSTs.
    if (this.metricsInflight) return this.metricsInflight;
    this.metricsInflight = (async () => {
      try {
        await this.refreshSandboxStates();
        const body = encodeMetrics(this.resource, this.registry.collect(), this.registry.startNs, nowUnixNs());
        await postJson(
          { url, headers: this.settings.headers, timeoutMs: this.settings.timeoutMs, fetch: this.fetch },
          body,
        );
      } catch (e) {
        this.exportFailed("metrics", e);
      } finally {
        this.metricsInflight = null;
      }
    })();
    return this.metricsInflight;
  }

  /** Exports every ended span now and waits for it. */
  async flush(): Promise<void> {
    await this.spans?.flush();
  }

  /** Stops the timers and sends what is left: spans, then a last metrics export. */
  async shutdown(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.metricsTimer) clearInterval(this.metricsTimer);
    await Promise.all([this.flush(), this.exportMetrics()]);
  }

  /**
   * One SERVER span per API request, a child of the caller's `traceparent` when it sends one.
   * `route` is the route table's name (schema/api.ts), or undefined for a path no route matched.
   */
  startRequest(req: Request, route: string | undefined): RequestObservation {
    const t0 = performance.now();
    const url = new URL(req.url);
    const routeName = route ?? "unmatched";
    const span = this.tracer.startSpan(`${req.method} ${routeName}`, {
      kind: SpanKind.SERVER,
      parent: parseTraceparent(req.headers.get("traceparent")),
      startTime: t0,
      attributes: {
        "http.request.method": req.method,
        "url.path": url.pathname,
        "url.scheme": url.protocol.replace(/:$/, ""),
        "cave.route": routeName,
      },
    });
    let done = false;
    return {
      span,
      end: (status, error) => {
        if (done) return;
        done = true;
        const t1 = performance.now();
        span.setAttribute("http.response.status_code", status);
        if (status >= 500) {
          span.setStatus(StatusCode.ERROR, error instanceof Error ? error.message : `status ${status}`);
          if (error !== undefined)
            span.setAttribute(
              "error.type",
              (error as { code?: string })?.code ?? (error instanceof Error ? error.name : "error"),
            );
        }
        span.end(t1);
        this.metrics.requests.inc({ route: routeName, method: req.method, status: String(status) });
        this.metrics.requestDuration.observe({ route: routeName, method: req.method }, (t1 - t0) / 1000);
      },
    };
  }

  /**
   * One span per sandbox run, start or exec (`sandbox.run`, `sandbox.start`, `sandbox.exec`),
   * a child of the request's span when there is one.
   */
  startSandbox(
    kind: "run" | "start" | "exec",
    opts: { parent?: Span | SpanContext | null; attributes?: Attributes; startTime?: number } = {},
  ): SandboxObservation {
    const t0 = opts.startTime ?? performance.now();
    const span = this.tracer.startSpan(`sandbox.${kind}`, {
      parent: opts.parent ?? null,
      startTime: t0,
      attributes: { ...opts.attributes },
    });
    let done = false;
    return {
      span,
      phases: (marks) => {
        phaseSpans(this.tracer, span, marks, t0);
      },
      end: (outcome) => {
        if (done) return;
        done = true;
        if ("error" in outcome) {
          const e = outcome.error;
          span.setStatus(StatusCode.ERROR, e instanceof Error ? e.message : String(e));
          if (kind !== "exec") this.metrics.runs.inc({ outcome: "error" });
          if (kind === "exec") this.metrics.execs.inc({ reason: "error" });
        } else {
          if (outcome.reason) span.setAttribute("cave.reason", outcome.reason);
          if (outcome.exitCode !== undefined) span.setAttribute("process.exit.code", outcome.exitCode);
          if (kind !== "exec") this.metrics.runs.inc({ outcome: "ok" });
          if (kind === "exec") this.metrics.execs.inc({ reason: outcome.reason ?? "exit" });
          if (outcome.reason === "oom") this.metrics.oomKills.inc({ kind });
          if (outcome.reason === "timeout") this.metrics.timeouts.inc({ kind });
          if (outcome.reason === "setup_failed") span.setStatus(StatusCode.ERROR, "sandbox setup failed");
        }
        span.end();
      },
    };
  }

  /** Counts a request refused by the rate limit (the 429 itself is counted by startRequest's end). */
  rateLimited(role: string): void {
    this.metrics.rateLimitRejections.inc({ role });
  }
}
