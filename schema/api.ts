// The HTTP API's bodies (`cave serve`): one valibot schema per shape. The server validates
// with them, and openapi.yaml's components and paths derive from them (schema/openapi.ts).
import * as v from "valibot";
import { KEY_ROUTES } from "./governance.ts";
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
  namespace: v.pipe(
    v.optional(v.pipe(v.string(), v.regex(/^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,62}$/, "a namespace is 1–63 letters, digits, '_', '.' or '-'"))),
    v.description("Admin keys only: the namespace it belongs to. A namespace key's sandboxes always get its own."),
  ),
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
  namespace: v.pipe(v.nullable(v.string()), v.description("The namespace of the key that made it; null when made by an admin without one or by the CLI.")),
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

/** Every route of the sandbox/admin API the server dispatches: the sandboxes' and /v1/keys (schema/governance.ts). */
export const API_ROUTES = { ...ROUTES, ...KEY_ROUTES } as const satisfies Record<string, Route>;

// The data API's plain endpoints (docs/data-api.md). They take the data API's credentials (the
// `apikey` header and `Authorization: Bearer <jwt>`), not the admin key; /rest/v1 and /auth/v1
// follow PostgREST and Supabase Auth and are described by reference to them.

export const QueryBodySchema = v.strictObject({
  sql: v.pipe(
    v.string(),
    v.minLength(1, "give the SQL to run"),
    v.description("One or more SQL statements (parameters only with one)."),
  ),
  params: v.pipe(v.optional(v.array(v.unknown())), v.description("Values bound to $1, $2, … in order.")),
});

export const QueryResultSchema = v.object({
  command: v.pipe(v.string(), v.description('The command tag: "SELECT 3", "INSERT 0 1", "UPDATE 2", "CREATE TABLE"…')),
  columns: v.array(v.object({ name: v.string(), type: v.pipe(v.string(), v.description("Postgres type name.")) })),
  rows: v.pipe(v.array(v.array(v.unknown())), v.description("Positional, in the columns' order.")),
  rowCount: v.pipe(v.number(), v.description("Rows returned, or affected by INSERT/UPDATE/DELETE without RETURNING.")),
});

const policyCommand = v.picklist(["all", "select", "insert", "update", "delete"]);

export const PolicySchema = v.object({
  table: v.string(),
  name: v.string(),
  command: v.pipe(v.string(), v.description("all, select, insert, update or delete.")),
  roles: v.array(v.string()),
  permissive: v.boolean(),
  using: v.nullable(v.string()),
  check: v.nullable(v.string()),
});

export const PolicyCreateSchema = v.strictObject({
  table: v.pipe(v.string(), v.minLength(1), v.description("The table it applies to.")),
  name: v.pipe(v.string(), v.minLength(1), v.description("Unique per table.")),
  command: v.pipe(v.optional(policyCommand), v.description("Which statements it applies to (default all).")),
  roles: v.pipe(
    v.optional(v.array(v.pipe(v.string(), v.minLength(1)))),
    v.description("Roles it applies to (default public: every role)."),
  ),
  using: v.pipe(
    v.optional(v.string()),
    v.description("SQL boolean expression: which existing rows are visible or targeted."),
  ),
  check: v.pipe(v.optional(v.string()), v.description("SQL boolean expression: which new rows may be written.")),
  permissive: v.pipe(
    v.optional(v.boolean()),
    v.description("true (default): OR-ed with the others; false: restrictive, AND-ed."),
  ),
});

export const PolicyDropSchema = v.strictObject({
  table: v.pipe(v.string(), v.minLength(1)),
  name: v.pipe(v.string(), v.minLength(1)),
});

export const SchemaInfoSchema = v.object({
  tables: v.array(
    v.object({
      name: v.string(),
      kind: v.picklist(["table", "view"]),
      columns: v.array(
        v.object({ name: v.string(), type: v.string(), nullable: v.boolean(), default: v.nullable(v.string()) }),
      ),
      primaryKey: v.array(v.string()),
      foreignKeys: v.array(
        v.object({
          name: v.string(),
          columns: v.array(v.string()),
          references: v.object({ table: v.string(), columns: v.array(v.string()) }),
        }),
      ),
      rls: v.object({ enabled: v.boolean(), forced: v.boolean() }),
      policies: v.pipe(
        v.optional(v.array(v.omit(PolicySchema, ["table"]))),
        v.description("Only for the service role."),
      ),
    }),
  ),
});

export const DataErrorSchema = v.object({
  error: v.object({
    code: v.pipe(
      v.string(),
      v.description(
        "DB_<sqlstate>, BAD_REQUEST, FORBIDDEN, or the auth failure (missing_apikey, invalid_jwt, expired_jwt).",
      ),
    ),
    message: v.string(),
    sqlstate: v.optional(v.string()),
    position: v.pipe(v.optional(v.number()), v.description("1-based character in the SQL, 0 when unknown.")),
    hint: v.optional(v.string()),
  }),
});

/** The plain data endpoints, for openapi.yaml (the server routes them in src/server/data/). */
export const DATA_ROUTES = {
  query: {
    method: "POST",
    path: "/query",
    summary: "Run SQL as the caller's role, under row-level security.",
    body: QueryBodySchema,
    response: QueryResultSchema,
    status: 200,
    auth: true,
  },
  schema: {
    method: "GET",
    path: "/schema",
    summary: "Tables, columns, keys, RLS flags; policies for the service role.",
    response: SchemaInfoSchema,
    status: 200,
    auth: true,
  },
  listPolicies: {
    method: "GET",
    path: "/policy",
    summary: "Row-level-security policies (?table=t); service role only.",
    response: v.array(PolicySchema),
    status: 200,
    auth: true,
  },
  createPolicy: {
    method: "POST",
    path: "/policy",
    summary: "CREATE POLICY from the body; service role only.",
    body: PolicyCreateSchema,
    response: PolicySchema,
    status: 201,
    auth: true,
  },
  dropPolicy: {
    method: "DELETE",
    path: "/policy",
    summary: "DROP POLICY (?table=t&name=p or the body); service role only.",
    body: PolicyDropSchema,
    status: 204,
    auth: true,
  },
} as const satisfies Record<string, Route>;
