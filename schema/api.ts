// The HTTP API's bodies (`cave serve`): one valibot schema per shape. The server validates
// with them, and openapi.yaml's components and paths derive from them (schema/openapi.ts).
import * as v from "valibot";
import { RunResultSchema } from "./result.ts";

const sizeOrNumber = (what: string) => v.pipe(v.union([v.string(), v.number()]), v.description(what));
/** Environment names as a shell takes them: no '=' (it would split the entry), no NUL. */
const envRecord = (what: string) =>
  v.pipe(v.optional(v.record(v.pipe(v.string(), v.regex(/^[A-Za-z_][A-Za-z0-9_]*$/, "an environment name is letters, digits and _, not starting with a digit")), v.pipe(v.string(), v.check((x) => !x.includes("\0"), "no NUL in values")))), v.description(what));

export const CreateSandboxSchema = v.strictObject({
  name: v.pipe(v.optional(v.string()), v.description("A unique name to use instead of the id.")),
  memory: v.optional(sizeOrNumber("Memory limit, no swap: 512M, 2G, none (default 1G).")),
  cpus: v.optional(sizeOrNumber("CPU limit in cores: 0.5, 1.5, none (default 2).")),
  pids: v.optional(sizeOrNumber("Most processes and threads at once, or none (default 1024).")),
  disk: v.optional(sizeOrNumber("Size of the disk image holding every write, kept across restarts (default 1G).")),
  timeout: v.optional(sizeOrNumber("Default wall-clock limit of each exec: 90s, 2m (default 120s).")),
  network: v.pipe(v.optional(v.picklist(["none", "host"])), v.description("none (own namespace, only lo) or host.")),
  seccomp: v.pipe(v.optional(v.picklist(["default", "strict", "none"])), v.description("Syscall filter profile.")),
  hostname: v.pipe(v.optional(v.string()), v.description("Hostname inside (default cave).")),
  workdir: v.pipe(v.optional(v.string()), v.description("Default working directory of each exec (default /).")),
  env: envRecord("Environment added to each exec."),
});

export const ExecSchema = v.strictObject({
  cmd: v.pipe(
    v.array(v.pipe(v.string(), v.check((x) => !x.includes("\0"), "no NUL in arguments"))),
    v.minLength(1),
    v.description("The command and its arguments, e.g. [\"sh\", \"-c\", \"…\"]."),
  ),
  env: envRecord("Environment added for this command."),
  workdir: v.pipe(v.optional(v.string()), v.description("Working directory inside the sandbox.")),
  timeout: v.optional(sizeOrNumber("Wall-clock limit: 30s, 500ms (a number means seconds).")),
  stdin: v.pipe(v.optional(v.string()), v.description("Text fed to the command's stdin, then EOF.")),
});

export const StopSchema = v.strictObject({
  grace: v.optional(sizeOrNumber("How long processes get after SIGTERM before SIGKILL: 10s, 0 (default 10s).")),
});

export const SandboxSchema = v.object({
  id: v.pipe(v.string(), v.description("12 hex digits.")),
  name: v.nullable(v.string()),
  status: v.picklist(["created", "running", "stopped", "lost"]),
  config: v.pipe(v.record(v.string(), v.unknown()), v.description("The settings it was created with (limits lifted with none are null).")),
  initPid: v.nullable(v.number()),
  createdAt: v.string(),
  startedAt: v.nullable(v.string()),
  stoppedAt: v.nullable(v.string()),
  usage: v.pipe(
    v.optional(v.nullable(v.object({ memoryBytes: v.number(), pids: v.number(), cpuSeconds: v.nullable(v.number()) }))),
    v.description("GET of one sandbox: what it uses now, from its cgroup (null unless running)."),
  ),
});

export const ExecResultSchema = v.object({
  ...RunResultSchema.entries,
  stdout: v.string(),
  stderr: v.string(),
  truncated: v.pipe(v.optional(v.boolean()), v.description("Output past 16 MiB per stream was dropped.")),
  executionId: v.number(),
});

export const ExecutionSchema = v.object({
  id: v.number(),
  sandboxId: v.string(),
  argv: v.array(v.string()),
  exitCode: v.nullable(v.number()),
  signal: v.nullable(v.string()),
  reason: v.nullable(v.string()),
  durationMs: v.nullable(v.number()),
  startedAt: v.string(),
  finishedAt: v.nullable(v.string()),
});

export const ErrorSchema = v.object({
  error: v.object({
    code: v.pipe(v.string(), v.description("Stable code: SANDBOX_NOT_FOUND, SANDBOX_STATE, BAD_REQUEST, AUTH_REQUIRED, …")),
    message: v.string(),
  }),
});

export type CreateSandboxBody = v.InferOutput<typeof CreateSandboxSchema>;
export type ExecBody = v.InferOutput<typeof ExecSchema>;
export type StopBody = v.InferOutput<typeof StopSchema>;

type Schema = v.GenericSchema;
/** Every route: the server dispatches on it and openapi.yaml's paths are generated from it. */
export interface Route {
  method: "GET" | "POST" | "PUT" | "DELETE";
  path: string;
  summary: string;
  body?: Schema;
  response?: Schema;
  status: number;
  auth: boolean;
}

export const ROUTES = {
  healthz: { method: "GET", path: "/healthz", summary: "Liveness: the process answers.", status: 200, auth: false },
  readyz: { method: "GET", path: "/readyz", summary: "Readiness: the database answers.", status: 200, auth: false },
  create: { method: "POST", path: "/v1/sandboxes", summary: "Create a sandbox (body optional).", body: CreateSandboxSchema, response: SandboxSchema, status: 201, auth: true },
  list: { method: "GET", path: "/v1/sandboxes", summary: "List sandboxes.", response: v.array(SandboxSchema), status: 200, auth: true },
  get: { method: "GET", path: "/v1/sandboxes/{id}", summary: "One sandbox, by id or name.", response: SandboxSchema, status: 200, auth: true },
  start: { method: "POST", path: "/v1/sandboxes/{id}/start", summary: "Start its init.", response: SandboxSchema, status: 200, auth: true },
  exec: { method: "POST", path: "/v1/sandboxes/{id}/exec", summary: "Run a command inside; answers when it ends.", body: ExecSchema, response: ExecResultSchema, status: 200, auth: true },
  stop: { method: "POST", path: "/v1/sandboxes/{id}/stop", summary: "SIGTERM everything inside, SIGKILL after the grace period.", body: StopSchema, response: SandboxSchema, status: 200, auth: true },
  executions: { method: "GET", path: "/v1/sandboxes/{id}/executions", summary: "Its latest executions, newest first (?limit=N, default 100).", response: v.array(ExecutionSchema), status: 200, auth: true },
  putFile: { method: "PUT", path: "/v1/sandboxes/{id}/files", summary: "Write the request body (bytes) to the file at ?path=/abs inside.", status: 204, auth: true },
  getFile: { method: "GET", path: "/v1/sandboxes/{id}/files", summary: "The bytes of the file at ?path=/abs inside (application/octet-stream).", status: 200, auth: true },
  delete: { method: "DELETE", path: "/v1/sandboxes/{id}", summary: "Remove it with its disk and history (?force=true stops it first).", status: 204, auth: true },
} as const satisfies Record<string, Route>;
