// `make api-validate`: checks openapi.yaml against the OpenAPI 3.1 schemas with a validator
// from npm (@seriousme/openapi-schema-validator), not with our own reading of the spec.
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { Validator } from "@seriousme/openapi-schema-validator";

const file = fileURLToPath(new URL("../openapi.yaml", import.meta.url));
const text = readFileSync(file, "utf8");
const result = await new Validator().validate(text);
if (!result.valid) {
  console.error(`${file} is not a valid OpenAPI document:\n${JSON.stringify(result.errors, null, 2)}`);
  process.exit(1);
}
console.log(`${file}: valid OpenAPI ${(Bun.YAML.parse(text) as { openapi: string }).openapi}`);
