// Derives openapi.yaml from the valibot schemas: the API's components are the same shapes
// the CLI validates and prints. Shared by scripts/gen-schema.ts and the staleness test.
import { toJsonSchema } from "@valibot/to-json-schema";
import { stringify } from "yaml";
import pkg from "../package.json" with { type: "json" };
import {
  CreateSandboxSchema,
  DATA_ROUTES,
  DataErrorSchema,
  ErrorSchema,
  ExecResultSchema,
  ExecSchema,
  ExecutionSchema,
  PolicyCreateSchema,
  PolicyDropSchema,
  PolicySchema,
  QueryBodySchema,
  QueryResultSchema,
  API_ROUTES,
  type Route,
  SandboxSchema,
  SchemaInfoSchema,
  StopSchema,
} from "./api.ts";
import { ConfigSchema } from "./config.ts";
import { IssuedKeySchema, IssueKeySchema, KeySchema, RotatedKeySchema, RotateKeySchema } from "./governance.ts";
import { RunResultSchema } from "./result.ts";

function component(schema: Parameters<typeof toJsonSchema>[0]): Record<string, unknown> {
  const { $schema: _, ...rest } = toJsonSchema(schema, { typeMode: "output", ignoreActions: ["check", "raw_check"], errorMode: "throw" });
  return rest;
}

/** Named components, and the name each route's schemas are referred to by. */
const NAMED = new Map<unknown, string>([
  [CreateSandboxSchema, "CreateSandbox"],
  [ExecSchema, "ExecRequest"],
  [StopSchema, "StopRequest"],
  [SandboxSchema, "Sandbox"],
  [ExecResultSchema, "ExecResult"],
  [ExecutionSchema, "Execution"],
  [ErrorSchema, "Error"],
  [QueryBodySchema, "QueryRequest"],
  [QueryResultSchema, "QueryResult"],
  [SchemaInfoSchema, "SchemaInfo"],
  [PolicySchema, "Policy"],
  [PolicyCreateSchema, "PolicyCreate"],
  [PolicyDropSchema, "PolicyDrop"],
  [DataErrorSchema, "DataError"],
  [IssueKeySchema, "IssueKeyRequest"],
  [RotateKeySchema, "RotateKeyRequest"],
  [KeySchema, "Key"],
  [IssuedKeySchema, "IssuedKey"],
  [RotatedKeySchema, "RotatedKey"],
]);

function ref(schema: Parameters<typeof toJsonSchema>[0]): Record<string, unknown> {
  const name = NAMED.get(schema);
  if (name) return { $ref: `#/components/schemas/${name}` };
  // An array of a named component (the list route).
  const item = (schema as { item?: unknown }).item;
  const itemName = item ? NAMED.get(item) : undefined;
  if (itemName) return { type: "array", items: { $ref: `#/components/schemas/${itemName}` } };
  return component(schema);
}

const ERROR_STATUSES: Record<string, string> = {
  "400": "The body or a field is invalid (the message names it).",
  "401": "No valid API key (Authorization: Bearer <key>).",
  "404": "No sandbox with that id or name.",
  "409": "The sandbox is in the wrong state for this.",
  "403": "The key's role or scope does not allow this (docs/governance.md has the matrix).",
  "429": "Over the key's rate limit: see Retry-After and the RateLimit headers.",
};

function paths(): Record<string, Record<string, unknown>> {
  const out: Record<string, Record<string, unknown>> = {};
  for (const [name, r] of Object.entries(API_ROUTES) as [string, Route][]) {
    const op: Record<string, unknown> = { operationId: name, summary: r.summary };
    if (r.path.includes("{id}")) op.parameters = [{ name: "id", in: "path", required: true, description: r.path.startsWith("/v1/keys") ? "The key's id (12 hex digits)." : "Sandbox id or name.", schema: { type: "string" } }];
    if (name === "delete") (op.parameters as unknown[]).push({ name: "force", in: "query", required: false, description: "true: stop a running sandbox first.", schema: { type: "boolean" } });
    if (name === "executions") (op.parameters as unknown[]).push({ name: "limit", in: "query", required: false, description: "How many (default 100).", schema: { type: "integer", minimum: 1 } });
    if (name === "exec") {
      (op.parameters as unknown[]).push({ name: "stream", in: "query", required: false, description: "ndjson: answer at once and stream the output as it comes.", schema: { type: "string", enum: ["ndjson"] } });
    }
    if (name === "putFile" || name === "getFile") (op.parameters as unknown[]).push({ name: "path", in: "query", required: true, description: "Absolute path inside the sandbox.", schema: { type: "string" } });
    if (name === "putFile") op.requestBody = { required: true, content: { "application/octet-stream": { schema: { type: "string", contentMediaType: "application/octet-stream" } } } };
    if (r.body) op.requestBody = { required: false, content: { "application/json": { schema: ref(r.body) } } };
    const responses: Record<string, unknown> = {
      [String(r.status)]: r.response
        ? { description: "OK", content: { "application/json": { schema: ref(r.response) } } }
        : name === "getFile"
          ? { description: "The file's bytes.", content: { "application/octet-stream": { schema: { type: "string", contentMediaType: "application/octet-stream" } } } }
          : { description: r.status === 204 ? "Done." : "OK" },
    };
    if (r.auth) {
      for (const [code, description] of Object.entries(ERROR_STATUSES)) {
        if (code === "400" && !r.body && !r.path.endsWith("/files")) continue;
        if ((code === "404" || code === "409") && !r.path.includes("{id}")) continue;
        if (code === "409" && name === "keys.revoke") continue;
        const keys = r.path.startsWith("/v1/keys");
        const text =
          keys && code === "404" ? "No key with that id." : keys && code === "409" ? "The key is in the wrong state for this (revoked already)." : description;
        responses[code] = { description: text, content: { "application/json": { schema: { $ref: "#/components/schemas/Error" } } } };
      }
    }
    if (name === "exec") {
      const ok = responses["200"] as { content: Record<string, unknown> };
      ok.content["application/x-ndjson"] = {
        schema: {
          type: "string",
          description:
            'With ?stream=ndjson, one JSON object per line: {"type":"stdout"|"stderr","data":"…"} as output comes, then {"type":"exit", …ExecResult without stdout/stderr} or {"type":"error","error":{code,message}}.',
        },
      };
    }
    op.responses = responses;
    if (r.auth) op.security = [{ bearer: [] }];
    out[r.path] = { ...(out[r.path] ?? {}), [r.method.toLowerCase()]: op };
  }
  // The data API's plain endpoints (docs/data-api.md): the data API's credentials, its errors.
  const dataError = (description: string) => ({ description, content: { "application/json": { schema: { $ref: "#/components/schemas/DataError" } } } });
  for (const [name, r] of Object.entries(DATA_ROUTES) as [string, Route][]) {
    const op: Record<string, unknown> = { operationId: name, summary: r.summary, tags: ["data"] };
    if (name === "listPolicies") op.parameters = [{ name: "table", in: "query", required: false, description: "Only this table's policies.", schema: { type: "string" } }];
    if (name === "dropPolicy") {
      op.parameters = [
        { name: "table", in: "query", required: false, description: "The policy's table (or in the body).", schema: { type: "string" } },
        { name: "name", in: "query", required: false, description: "The policy's name (or in the body).", schema: { type: "string" } },
      ];
    }
    if (r.body) op.requestBody = { required: name !== "dropPolicy", content: { "application/json": { schema: ref(r.body) } } };
    const responses: Record<string, unknown> = {
      [String(r.status)]: r.response ? { description: "OK", content: { "application/json": { schema: ref(r.response) } } } : { description: "Done." },
      "401": dataError("No or refused credentials (missing_apikey, invalid_jwt, expired_jwt); 42501 for anon."),
    };
    if (r.body) responses["400"] = dataError("Invalid body, or an SQL error (DB_<sqlstate> with sqlstate, message, position).");
    if (name !== "query" && name !== "schema") responses["403"] = dataError("Not the service role.");
    else if (name === "query") responses["403"] = dataError("42501: permission denied (row-level security) for a role other than anon.");
    op.responses = responses;
    op.security = [{ apikey: [], jwt: [] }, { apikey: [] }];
    out[r.path] = { ...(out[r.path] ?? {}), [r.method.toLowerCase()]: op };
  }
  return out;
}

export function generateOpenApi(): string {
  const doc = {
    openapi: "3.1.0",
    info: {
      title: "cave",
      version: pkg.version,
      description:
        "Sandboxes over HTTP (cave serve), and the data API's plain endpoints (/query, /schema, /policy). /rest/v1 follows PostgREST and /auth/v1 Supabase Auth (GoTrue): see docs/data-api.md and docs/auth.md. Generated from schema/*.ts by scripts/gen-schema.ts; do not edit.",
    },
    paths: paths(),
    components: {
      securitySchemes: {
        bearer: { type: "http", scheme: "bearer", description: "An API key (cave_<id>_<secret>) whose role allows the route (docs/governance.md): the first admin key is shown once at the first `cave serve`; more come from /v1/keys or `cave keys issue`; or CAVE_ADMIN_KEY." },
        apikey: { type: "apiKey", in: "header", name: "apikey", description: "The data API's anon or service-role key (`cave db keys`)." },
        jwt: { type: "http", scheme: "bearer", bearerFormat: "JWT", description: "A user's access token from /auth/v1, or a key again; wins over apikey." },
      },
      schemas: {
        CaveConfig: component(ConfigSchema),
        RunResult: component(RunResultSchema),
        ...Object.fromEntries([...NAMED].map(([schema, name]) => [name, component(schema as Parameters<typeof toJsonSchema>[0])])),
      },
    },
  };
  return `# Generated by scripts/gen-schema.ts from schema/*.ts; do not edit.\n${stringify(doc, { lineWidth: 0 })}`;
}
