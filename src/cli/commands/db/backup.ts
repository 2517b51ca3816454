// `cave db backup FILE`: an online, consistent copy (VACUUM INTO): writers go on while it
// runs, and the copy is one committed state, compacted.
import { existsSync, statSync } from "node:fs";
import { resolve } from "node:path";
import { defineCommand } from "citty";
import { CaveError } from "../../../core/errors.ts";
import { dbArgs, locate, openDbStore } from "./_shared.ts";

export default defineCommand({
  meta: { name: "backup", description: "Write an online, consistent copy of the database to FILE." },
  args: {
    ...dbArgs,
    file: { type: "positional", required: true, description: "Where to write the copy; must not exist." },
    json: { type: "boolean", description: "Print { url, file, bytes } as JSON." },
  },
  async run({ args }) {
    const file = resolve(args.file);
    if (existsSync(file)) {
      throw new CaveError("USAGE", `${file} already exists`, {
        hint: "give a new file name; a backup never overwrites",
      });
    }
    const loc = await locate(args);
    const store = await openDbStore(loc);
    try {
      await store.backup(file);
      const remote = !store.url.startsWith("file:") && store.url !== ":memory:";
      const bytes = remote ? null : statSync(file).size;
      if (args.json) console.log(JSON.stringify({ url: store.url, file, bytes }));
      else
        console.log(
          remote
            ? `${store.url}: backed up to ${file} on the server`
            : `${store.url}: backed up to ${file} (${bytes} bytes)`,
        );
    } finally {
      store.close();
    }
  },
});
