// The result of one sandboxed run: what `cave run --json` prints and what the API will
// return for an exec. One valibot schema; the RunResult type and the OpenAPI component derive from it.
import * as v from "valibot";

export const RUN_REASONS = [
  "exit",
  "signal",
  "timeout",
  "interrupted",
  "not_found",
  "not_executable",
  "setup_failed",
  "oom",
] as const;

export const RunResultSchema = v.object({
  exitCode: v.pipe(v.number(), v.integer(), v.minValue(0), v.maxValue(255), v.description("The command's exit code, 128+N for signal N, or one of cave's own (124 timeout, 125 setup, 126, 127).")),
  signal: v.pipe(v.nullable(v.string()), v.description("Name of the signal that ended the command (SIGKILL for timeout and OOM), or null.")),
  reason: v.pipe(v.picklist(RUN_REASONS), v.description("Why the run ended.")),
  durationMs: v.pipe(v.number(), v.minValue(0), v.description("Wall-clock time from start to teardown, in milliseconds.")),
  message: v.pipe(v.optional(v.string()), v.description("One line for people when the reason is not a plain exit.")),
});

export type RunReason = (typeof RUN_REASONS)[number];
export type RunResult = v.InferOutput<typeof RunResultSchema>;
