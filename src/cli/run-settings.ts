// What `cave run` and `cave create` share: their options become RunSettings the same way
// (flags over ./cave.yaml or --config over the defaults).
import { findProjectConfig, loadConfigFile, resolveRunSettings, type RunSettings } from "../core/config.ts";
import type { SplitArgs } from "./args.ts";

/** Options that may be given more than once. */
export const REPEATABLE_RUN_OPTIONS = ["env", "bind", "cap-add", "rlimit"] as const;

export const str = (v: unknown) => (typeof v === "string" ? v : undefined);
export const arr = (v: unknown) => (Array.isArray(v) ? (v as string[]) : undefined);

export function runSettingsFrom(options: SplitArgs["options"]): RunSettings {
  const configPath = typeof options.config === "string" ? options.config : findProjectConfig(process.cwd());
  const file = configPath ? loadConfigFile(configPath) : undefined;
  return resolveRunSettings({
    file: file?.run,
    flags: {
      timeout: str(options.timeout),
      memory: str(options.memory),
      cpus: str(options.cpus),
      pids: str(options.pids),
      disk: str(options.disk),
      network: str(options.network),
      seccomp: str(options.seccomp),
      hostname: str(options.hostname),
      workdir: str(options.workdir),
      rootfs: str(options.rootfs),
      env: arr(options.env),
      bind: arr(options.bind),
      capAdd: arr(options["cap-add"]),
      rlimit: arr(options.rlimit),
    },
  });
}
