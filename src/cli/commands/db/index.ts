// `cave db …`: the embedded database from the command line.
import { defineCommand } from "citty";

export default defineCommand({
  meta: {
    name: "db",
    description: "Query, migrate, check, checkpoint and back up cave's database; print the data API's keys.",
  },
  subCommands: {
    query: () => import("./query.ts").then((m) => m.default),
    shell: () => import("./shell.ts").then((m) => m.default),
    migrate: () => import("./migrate.ts").then((m) => m.default),
    checkpoint: () => import("./checkpoint.ts").then((m) => m.default),
    backup: () => import("./backup.ts").then((m) => m.default),
    check: () => import("./check.ts").then((m) => m.default),
    keys: () => import("./keys.ts").then((m) => m.default),
  },
});
