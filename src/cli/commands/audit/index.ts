// `cave audit …`: the signed audit log (src/audit/) from the command line.
import { defineCommand } from "citty";

export default defineCommand({
  meta: { name: "audit", description: "Verify, read and export the key of cave's signed audit log." },
  subCommands: {
    verify: () => import("./verify.ts").then((m) => m.default),
    tail: () => import("./tail.ts").then((m) => m.default),
    pubkey: () => import("./pubkey.ts").then((m) => m.default),
  },
});
