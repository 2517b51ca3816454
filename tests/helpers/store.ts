// Real stores for the engine's tests: a fresh temp libSQL file (WAL) or :memory: through the
// product's openStore, or a temp file through the remote transport (@libsql/client on a file:
// URL, which takes a libSQL server's request and transaction path). No mocks.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createClient } from "@libsql/client";
import { openStore, type Store } from "../../src/db/store/index.ts";
import { RemoteStore } from "../../src/db/store/remote.ts";

function closeQuietly(store: Store): void {
  try {
    store.close();
  } catch {
    // already closed by the engine that owned it
  }
}

/** A store on a fresh temp file (removed by `dispose`), or on :memory:. */
export function tempStore(kind: "file" | "memory" | "remote" = "file"): { store: Store; path: string; dispose(): void } {
  if (kind === "memory") {
    const store = openStore(":memory:");
    return { store, path: ":memory:", dispose: () => closeQuietly(store) };
  }
  const dir = mkdtempSync(join(tmpdir(), "cave-db-test-"));
  const path = join(dir, "test.db");
  const store =
    kind === "remote"
      ? new RemoteStore("file:test", { client: createClient({ url: `file:${path}`, intMode: "bigint" }) })
      : openStore(path);
  return {
    store,
    path,
    dispose() {
      closeQuietly(store);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
