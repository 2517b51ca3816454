// `cave webhook …`: tools for the receivers of cave's webhooks (docs/governance.md).
import { defineCommand } from "citty";

export default defineCommand({
  meta: { name: "webhook", description: "Check the signatures of cave's webhook deliveries." },
  subCommands: {
    verify: () => import("./verify.ts").then((m) => m.default),
  },
});
