// `cave config …`: work with cave.yaml.
import { defineCommand } from "citty";

export default defineCommand({
  meta: { name: "config", description: "Check project configuration (cave.yaml)." },
  subCommands: {
    validate: () => import("./validate.ts").then((m) => m.default),
  },
});
