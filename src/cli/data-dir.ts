// The flags every verb that works on cave's data directory takes (--data-dir, --config,
// --debug), and their resolution: ./cave.yaml or --config, then src/db/paths.ts's order
// (--data-dir, CAVE_DATA_DIR, cave.yaml db.data_dir, the default). One place for `cave db`,
// `cave keys`, `cave audit`, the sandbox verbs and `cave serve`. Loads its modules lazily: the
// run path never imports this file.
import type { CaveConfig } from "../core/config.ts";

export const dataDirArgs = {
  "data-dir": {
    type: "string",
    description:
      "cave's data directory (default: CAVE_DATA_DIR, cave.yaml db.data_dir, then /var/lib/cave for root or ~/.local/share/cave).",
  },
  config: { type: "string", description: "Config file (default ./cave.yaml if present)." },
  debug: { type: "boolean", description: "Show causes and stacks of errors." },
} as const;

export interface DataDirFlags {
  "data-dir"?: string | undefined;
  config?: string | undefined;
}

export interface Located {
  /** cave.yaml as loaded and validated (undefined when there is none). */
  config: CaveConfig | undefined;
  /** Where it was read from. */
  configPath: string | undefined;
  dataDir: string;
}

/** The project's cave.yaml (or --config) and the data directory the flags, env and file name. */
export async function locateDataDir(flags: DataDirFlags): Promise<Located> {
  const { findProjectConfig, loadConfigFile } = await import("../core/config.ts");
  const { resolveDbLocation } = await import("../db/paths.ts");
  const configPath = flags.config || findProjectConfig(process.cwd()) || undefined;
  const config = configPath ? loadConfigFile(configPath) : undefined;
  const dataDir = config?.db?.data_dir;
  return {
    config,
    configPath,
    dataDir: resolveDbLocation({
      flags: { dataDir: flags["data-dir"] },
      config: dataDir ? { data_dir: dataDir } : undefined,
    }).dataDir,
  };
}
