// `cave keys …`: the API keys of `cave serve` on this data directory (docs/governance.md).
import { defineCommand } from "citty";

export default defineCommand({
  meta: { name: "keys", description: "Issue, list, revoke and rotate the API keys of cave serve." },
  subCommands: {
    issue: () => import("./issue.ts").then((m) => m.default),
    list: () => import("./list.ts").then((m) => m.default),
    revoke: () => import("./revoke.ts").then((m) => m.default),
    rotate: () => import("./rotate.ts").then((m) => m.default),
  },
});
