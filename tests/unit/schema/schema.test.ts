// The derived files stay in step with the valibot ConfigSchema: the checked-in JSON Schema
// and the example cave.yaml at the top of the repository.
import { describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { DEFAULTS, loadConfigFile, resolveRunSettings } from "../../../src/core/config.ts";
import { generateConfigJsonSchema } from "../../../schema/json.ts";
import { API_ROUTES, DATA_ROUTES } from "../../../schema/api.ts";
import { generateOpenApi } from "../../../schema/openapi.ts";

const ROOT = join(import.meta.dir, "../../..");

describe("openapi.yaml", () => {
  test("matches what scripts/gen-schema.ts generates from the valibot schemas", () => {
    const checkedIn = readFileSync(join(ROOT, "openapi.yaml"), "utf8");
    if (checkedIn !== generateOpenApi()) {
      throw new Error("openapi.yaml is stale: run `bun scripts/gen-schema.ts` and commit the result");
    }
  });

  test("carries the config and run-result shapes as components", () => {
    const doc = Bun.YAML.parse(generateOpenApi()) as { openapi: string; components: { schemas: Record<string, { required?: string[] }> } };
    expect(doc.openapi).toBe("3.1.0");
    expect(Object.keys(doc.components.schemas)).toEqual(["CaveConfig", "RunResult", "CreateSandbox", "ExecRequest", "StopRequest", "Sandbox", "ExecResult", "Execution", "Error", "QueryRequest", "QueryResult", "SchemaInfo", "Policy", "PolicyCreate", "PolicyDrop", "DataError", "IssueKeyRequest", "RotateKeyRequest", "Key", "IssuedKey", "RotatedKey"]);
    expect(doc.components.schemas.RunResult?.required).toEqual(["exitCode", "signal", "reason", "durationMs"]);
  });

  test("is a valid OpenAPI 3.1 document for a validator from npm, which does reject a broken one (the control)", async () => {
    const { Validator } = await import("@seriousme/openapi-schema-validator");
    expect(await new Validator().validate(generateOpenApi())).toEqual({ valid: true });
    const broken = generateOpenApi().replace("openapi: 3.1.0", "openapi: 3.1.0\nbogus: true");
    expect((await new Validator().validate(broken)).valid).toBe(false);
  });

  test("has a path for every route the server dispatches, and every $ref resolves to a component", () => {
    const doc = Bun.YAML.parse(generateOpenApi()) as { paths: Record<string, Record<string, { operationId: string }>>; components: { schemas: Record<string, unknown> } };
    const ops = Object.entries(doc.paths).flatMap(([path, methods]) => Object.entries(methods).map(([m, op]) => `${m.toUpperCase()} ${path} ${op.operationId}`));
    expect(ops.sort()).toEqual(Object.entries({ ...API_ROUTES, ...DATA_ROUTES }).map(([name, r]) => `${r.method} ${r.path} ${name}`).sort());
    const refs = [...generateOpenApi().matchAll(/\$ref: "#\/components\/schemas\/(\w+)"/g)].map((m) => m[1] as string);
    expect(refs.length).toBeGreaterThan(10);
    expect(refs.filter((r) => !(r in doc.components.schemas))).toEqual([]);
  });
});

describe("schema/cave.schema.json", () => {
  test("matches what scripts/gen-schema.ts generates from ConfigSchema", () => {
    const checkedIn = readFileSync(join(ROOT, "schema/cave.schema.json"), "utf8");
    if (checkedIn !== generateConfigJsonSchema()) {
      throw new Error("schema/cave.schema.json is stale: run `bun scripts/gen-schema.ts` and commit the result");
    }
  });

  test("is a draft-07 schema titled cave.yaml that rejects unknown keys", () => {
    const schema = JSON.parse(generateConfigJsonSchema());
    expect({
      $schema: schema.$schema,
      title: schema.title,
      additionalProperties: schema.additionalProperties,
      runAdditionalProperties: schema.properties.run.additionalProperties,
      runKeys: Object.keys(schema.properties.run.properties),
    }).toEqual({
      $schema: "http://json-schema.org/draft-07/schema#",
      title: "cave.yaml",
      additionalProperties: false,
      runAdditionalProperties: false,
      runKeys: [
        "timeout",
        "memory",
        "cpus",
        "pids",
        "disk",
        "network",
        "hostname",
        "workdir",
        "rootfs",
        "env",
        "binds",
        "rlimits",
        "seccomp",
        "cap_add",
      ],
    });
  });
});

describe("the example cave.yaml", () => {
  test("validates and spells out exactly the defaults", () => {
    const config = loadConfigFile(join(ROOT, "cave.yaml"));
    expect(resolveRunSettings({ file: config.run })).toEqual({ ...DEFAULTS });
  });
});
