// Derives schema/cave.schema.json from ConfigSchema, for editors (yaml-language-server) and
// docs. Shared by scripts/gen-schema.ts and the test that fails when the checked-in file is stale.
import { toJsonSchema } from "@valibot/to-json-schema";
import { ConfigSchema } from "./config.ts";

export function generateConfigJsonSchema(): string {
  const schema = toJsonSchema(ConfigSchema, {
    // "output" starts each pipe at its last schema: the strictObject behind the mapping guard.
    typeMode: "output",
    // The checks run cave's own parsers; their syntax is stated as patterns beside them.
    ignoreActions: ["check", "raw_check"],
    errorMode: "throw",
  });
  const { $schema, ...rest } = schema;
  return `${JSON.stringify({ $schema, ...rest }, null, 2)}\n`;
}
