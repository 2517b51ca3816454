// What the `cave audit` verbs share: the flags that find the data directory, and from it
// the audit directory (<data dir>/audit), resolved as `cave db` does (src/db/paths.ts).
import { join } from "node:path";

export const auditArgs = {
  "data-dir": {
    type: "string",
    description:
      "cave's data directory (default: CAVE_DATA_DIR, cave.yaml db.data_dir, then /var/lib/cave for root or ~/.local/share/cave).",
  },
  config: { type: "string", description: "Config file (default ./cave.yaml if present)." },
  debug: { type: "boolean", description: "Show causes and stacks of errors." },
} as const;

export async function dataDirOf(flags: {
  "data-dir"?: string | undefined;
  config?: string | undefined;
}): Promise<string> {
  const { findProjectConfig, loadConfigFile } = await import("../../../core/config.ts");
  const { resolveDbLocation } = await import("../../../db/paths.ts");
  const configPath = flags.config || findProjectConfig(process.cwd());
  const config = configPath ? loadConfigFile(configPath).db : undefined;
  return resolveDbLocation({ flags: { dataDir: flags["data-dir"] }, config }).dataDir;
}

export async function auditDirOf(flags: {
  "data-dir"?: string | undefined;
  config?: string | undefined;
}): Promise<string> {
  return join(await dataDirOf(flags), "audit");
}
