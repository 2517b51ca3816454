// Real stores for the engine's tests, opened with the product's openStore: a fresh temp libSQL
// file (WAL) or :memory:. No mocks.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { openStore, type Store } from "../../src/db/store/index.ts";

function closeQuietly(store: Store): void {
  try {
    store.close();
  } catch {
    // already closed by the engine that owned it
  }
}

/** A store on a fresh temp file (removed by `dispose`), or on :memory:. */
export function tempStore(kind: "file" | "memory" = "file"): { store: Store; path: string; dispose(): void } {
  if (kind === "memory") {
    const store = openStore(":memory:");
    return { store, path: ":memory:", dispose: () => closeQuietly(store) };
  }
  const dir = mkdtempSync(join(tmpdir(), "cave-db-test-"));
  const path = join(dir, "test.db");
  const store = openStore(path);
  return {
    store,
    path,
    dispose() {
      closeQuietly(store);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
