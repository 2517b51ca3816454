// `cave db keys`: what a client needs to reach the data API — its URL, the anon key and the
// service-role key (`createClient(url, anonKey)`). The keys are JWTs signed with the data
// directory's JWT key (src/auth/keys.ts), kept there so every run prints the same ones.
import { defineCommand } from "citty";
import { dataDirArgs, locateDataDir } from "../../data-dir.ts";

export const DEFAULT_API_URL = "http://127.0.0.1:8080";

export default defineCommand({
  meta: { name: "keys", description: "Print the data API's URL, anon key and service-role key." },
  args: {
    ...dataDirArgs,
    "api-url": {
      type: "string",
      description: `The URL clients reach \`cave serve\` at (default ${DEFAULT_API_URL}, its default address).`,
    },
    json: { type: "boolean", description: "Print { api_url, anon_key, service_role_key } as JSON." },
  },
  async run({ args }) {
    const { readApiKeys } = await import("../../../auth/service.ts");
    const { config, dataDir } = await locateDataDir(args);
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
