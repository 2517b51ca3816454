// What the `cave audit` verbs share: the flags that find the data directory, and from it
// the audit directory (<data dir>/audit), resolved as `cave db` does (src/db/paths.ts).
import { join } from "node:path";
import { type DataDirFlags, dataDirArgs, locateDataDir } from "../../data-dir.ts";

export const auditArgs = dataDirArgs;

/** The data directory the flags name (src/cli/data-dir.ts). */
export async function dataDirOf(flags: DataDirFlags): Promise<string> {
  return (await locateDataDir(flags)).dataDir;
}

export async function auditDirOf(flags: {
  "data-dir"?: string | undefined;
  config?: string | undefined;
}): Promise<string> {
  return join(await dataDirOf(flags), "audit");
}
