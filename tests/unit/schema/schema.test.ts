// The derived files stay in step with the valibot ConfigSchema: the checked-in JSON Schema
// and the example cave.yaml at the top of the repository.
import { describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { DEFAULTS, loadConfigFile, resolveRunSettings } from "../../../src/core/config.ts";
import { generateConfigJsonSchema } from "../../../schema/json.ts";

const ROOT = join(import.meta.dir, "../../..");

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
