// `cave run`'s span, exported only when an OTLP endpoint is configured (OTEL_EXPORTER_OTLP_ENDPOINT
// or OTEL_EXPORTER_OTLP_TRACES_ENDPOINT): cave run imports this module lazily, after the command
// has finished, so a run without telemetry loads none of it. The span starts at process start
// and has the start-up phases of src/core/trace.ts as children; a TRACEPARENT in the
// environment (as CI systems pass it to job steps) makes it that trace's child.
import pkg from "../../package.json" with { type: "json" };
import type { RunResult } from "../../schema/result.ts";
import { Telemetry } from "./index.ts";
import { parseTraceparent, type PhaseMark } from "./trace.ts";

/** Whether the environment asks for traces at all (the check cave run makes before importing this). */
export function tracesConfigured(env: Record<string, string | undefined>): boolean {
  if (env.OTEL_SDK_DISABLED?.trim().toLowerCase() === "true") return false;
  return !!(env.OTEL_EXPORTER_OTLP_ENDPOINT || env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT);
}

export async function exportRunSpan(opts: {
  argv0: string;
  result: RunResult;
  marks: readonly PhaseMark[];
  env: Record<string, string | undefined>;
  warn: (message: string) => void;
}): Promise<void> {
  const telemetry = Telemetry.open({ serviceVersion: pkg.version, env: opts.env, warn: opts.warn });
  const parent = parseTraceparent(opts.env.TRACEPARENT);
  const run = telemetry.startSandbox("run", {
    parent,
    startTime: 0,
    attributes: { "process.executable.name": opts.argv0 },
  });
  run.phases(opts.marks);
  run.end({ reason: opts.result.reason, exitCode: opts.result.exitCode });
  await telemetry.shutdown();
}
