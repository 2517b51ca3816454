// `cave db migrate [DIR]`: applies numbered .sql files once each (see src/db/migrate.ts).
import { resolve } from "node:path";
import { defineCommand } from "citty";
import { writeStderr } from "../../../core/log.ts";
import { dbArgs, locate, openDbStore } from "./_shared.ts";
import { openEngine } from "./_engine.ts";

export default defineCommand({
  meta: { name: "migrate", description: "Apply the numbered migrations (001_name.sql …) of DIR not yet applied." },
  args: {
    ...dbArgs,
    dir: { type: "positional", required: false, description: "The migrations directory (default ./migrations)." },
    json: { type: "boolean", description: "Print { applied, skipped, changed } as JSON." },
  },
  async run({ args }) {
    const dir = resolve(args.dir || "migrations");
    const { listMigrations, migrate } = await import("../../../db/migrate.ts");
    listMigrations(dir); // a missing directory fails before the database is created
    const store = await openDbStore(await locate(args));
    try {
      const engine = await openEngine(store);
      try {
        const report = await migrate(engine, dir);
        for (const file of report.changed) {
          writeStderr(`cave: warning: ${file} changed after it was applied; it is not applied again\n`);
        }
        if (args.json) console.log(JSON.stringify(report));
        else {
          for (const a of report.applied) console.log(`applied ${a.file} (${a.statements} statements)`);
          console.log(
            report.applied.length === 0
              ? `nothing to apply: ${report.skipped} migrations already applied`
              : `${report.applied.length} applied, ${report.skipped} already applied`,
          );
        }
      } finally {
        engine.close();
      }
    } finally {
      store.close();
    }
  },
});
