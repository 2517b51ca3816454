// `cave db checkpoint`: copies the WAL into the database file and truncates the WAL.
import { defineCommand } from "citty";
import { dbArgs, locate, openDbStore } from "./_shared.ts";

export default defineCommand({
  meta: { name: "checkpoint", description: "Fold the write-ahead log into the database file and truncate it." },
  args: { ...dbArgs, json: { type: "boolean", description: "Print { url, busy, log, checkpointed } as JSON." } },
  async run({ args }) {
    const loc = await locate(args);
    const store = await openDbStore(loc);
    try {
      const local = store.url.startsWith("file:") || store.url === ":memory:";
      if (!local && !args.json) {
        console.log(`${store.url}: a libSQL server checkpoints its own WAL; nothing to do`);
        return;
      }
      const r = await store.checkpoint();
      if (args.json) console.log(JSON.stringify({ url: store.url, ...r }));
      else if (r.busy)
        console.log(
          `${store.url}: checkpoint incomplete, a reader holds the log (${r.checkpointed} of ${r.log} pages)`,
        );
      else console.log(`${store.url}: checkpointed ${r.checkpointed} pages; the WAL is truncated`);
      if (r.busy) process.exitCode = 1;
    } finally {
      store.close();
    }
  },
});
