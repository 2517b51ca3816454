// Writes schema/cave.schema.json from the valibot ConfigSchema: `bun scripts/gen-schema.ts`.
// tests/unit/schema/schema.test.ts fails until the checked-in file matches.
import { writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { generateConfigJsonSchema } from "../schema/json.ts";

const out = fileURLToPath(new URL("../schema/cave.schema.json", import.meta.url));
writeFileSync(out, generateConfigJsonSchema());
console.log(`wrote ${out}`);
