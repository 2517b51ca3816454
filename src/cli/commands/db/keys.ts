// `cave db keys`: what a client needs to reach the data API — its URL, the anon key and the
// service-role key (`createClient(url, anonKey)`). The keys are JWTs signed with the data
// directory's JWT key (src/auth/keys.ts), kept there so every run prints the same ones.
import { defineCommand } from "citty";

export const DEFAULT_API_URL = "http://127.0.0.1:8080";

export default defineCommand({
  meta: { name: "keys", description: "Print the data API's URL, anon key and service-role key." },
  args: {
    "data-dir": {
      type: "string",
      description:
        "cave's data directory (default: CAVE_DATA_DIR, cave.yaml db.data_dir, then /var/lib/cave for root or ~/.local/share/cave).",
    },
    "api-url": {
      type: "string",
      description: `The URL clients reach \`cave serve\` at (default ${DEFAULT_API_URL}, its default address).`,
    },
    config: { type: "string", description: "Config file (default ./cave.yaml if present)." },
    json: { type: "boolean", description: "Print { api_url, anon_key, service_role_key } as JSON." },
    debug: { type: "boolean", description: "Show causes and stacks of errors." },
  },
  async run({ args }) {
    const { findProjectConfig, loadConfigFile } = await import("../../../core/config.ts");
    const { resolveDbLocation } = await import("../../../db/paths.ts");
    const { readApiKeys } = await import("../../../auth/service.ts");
    const configPath = args.config || findProjectConfig(process.cwd());
    const config = configPath ? loadConfigFile(configPath) : undefined;
    const { dataDir } = resolveDbLocation({ flags: { dataDir: args["data-dir"] }, config: config?.db });
    const keys = await readApiKeys({ dataDir, ...(config?.auth ? { config: config.auth } : {}) });
    const apiUrl = (args["api-url"] ?? DEFAULT_API_URL).replace(/\/+$/, "");
    if (args.json) {
      console.log(JSON.stringify({ api_url: apiUrl, anon_key: keys.anon, service_role_key: keys.service_role }));
      return;
    }
    console.log(`API URL:          ${apiUrl}`);
    console.log(`anon key:         ${keys.anon}`);
    console.log(`service_role key: ${keys.service_role}`);
    console.log(
      "\nThe anon key is safe in a browser; the service-role key bypasses row-level security: keep it on servers.",
    );
  },
});
