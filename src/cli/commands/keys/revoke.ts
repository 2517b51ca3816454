// `cave keys revoke ID [--json]`: refuse the key from now on (AUTH_KEY_REVOKED). A running cave
// serve sees it at its next request.
import { defineCommand } from "citty";
import { keyArgs, withKeys } from "./_shared.ts";

export default defineCommand({
  meta: { name: "revoke", description: "Revoke an API key at once." },
  args: { ...keyArgs, id: { type: "positional", required: true, description: "The key's id (cave keys list)." } },
  async run({ args }) {
    await withKeys(
      args,
      async (keys) => {
        const k = await keys.revoke(args.id);
        if (args.json) console.log(JSON.stringify(k));
        else console.log(`revoked ${k.id} at ${k.revokedAt}`);
      },
      { events: true },
    );
  },
});
