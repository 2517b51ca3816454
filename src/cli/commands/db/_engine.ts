// The SQL engine over a store, loaded on first use: every statement a `cave db` verb runs
// goes through parse → plan → emit → execute (src/db/engine.ts); none reaches libSQL as typed.
import type { SqlEngine } from "../../../db/types.ts";
import type { Store } from "../../../db/store/types.ts";

export async function openEngine(store: Store): Promise<SqlEngine> {
  const { Engine } = await import("../../../db/engine.ts");
  return await Engine.open(store);
}
