// `cave serve [--host 127.0.0.1] [--port 8080] [--data-dir DIR]`: the HTTP API over the same
// sandboxes the CLI verbs see. Stopping the server leaves running sandboxes running.
import { defineCommand } from "citty";
import { CaveError } from "../../core/errors.ts";
import { writeStderr } from "../../core/log.ts";
import { dataDirArgs, locateDataDir } from "../data-dir.ts";

export default defineCommand({
  // One line in `cave --help`'s table (citty pads every row to the longest); the rest is in the docs.
  meta: { name: "serve", description: "Serve the sandbox API and bkg-db's data API over HTTP (docs/api.md, docs/data-api.md)." },
  args: {
    ...dataDirArgs,
    host: { type: "string", description: "Address to listen on (default 127.0.0.1)." },
    port: { type: "string", description: "Port to listen on; 0 picks a free one (default 8080)." },
    "max-sandboxes": { type: "string", description: "The most sandboxes running at once (default: CAVE_MAX_SANDBOXES, else 32)." },
  },
  async run({ args }) {
    const port = Number(args.port ?? 8080);
    if (!Number.isInteger(port) || port < 0 || port > 65535) throw new CaveError("USAGE", `invalid --port ${args.port}`, { hint: "give 0–65535" });
    const { config, configPath, dataDir } = await locateDataDir(args);
    const max = args["max-sandboxes"] === undefined ? undefined : Number(args["max-sandboxes"]);
    if (max !== undefined && (!Number.isSafeInteger(max) || max < 1)) throw new CaveError("USAGE", `invalid --max-sandboxes ${args["max-sandboxes"]}`, { hint: "give a whole number of 1 or more" });
    const { serve } = await import("../../server/serve.ts");
    const running = await serve({ host: args.host ?? "127.0.0.1", port, dataDir, ...(max ? { maxSandboxes: max } : {}), ...(config ? { config } : {}), ...(configPath ? { configPath } : {}) });
    writeStderr(`cave: listening on ${running.url}\n`);
    await new Promise<void>((resolve) => {
      for (const sig of ["SIGINT", "SIGTERM"] as const) process.once(sig, () => resolve());
    });
    await running.stop();
    process.exit(0);
  },
});
