// Writes the files derived from the valibot schemas: schema/cave.schema.json and openapi.yaml
// (`bun scripts/gen-schema.ts`). tests/unit/schema/schema.test.ts fails until they match.
import { writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { generateConfigJsonSchema } from "../schema/json.ts";
import { generateOpenApi } from "../schema/openapi.ts";

for (const [rel, text] of [
  ["../schema/cave.schema.json", generateConfigJsonSchema()],
  ["../openapi.yaml", generateOpenApi()],
] as const) {
  const out = fileURLToPath(new URL(rel, import.meta.url));
  writeFileSync(out, text);
  console.log(`wrote ${out}`);
}
