// `cave keys issue --role ROLE [--name N] [--expires 30d] [--namespace NS] [--sandbox ID…] [--json]`:
// a new API key. Its secret is printed once, on stdout, and only its hash is kept.
import { defineCommand } from "citty";
import { keyArgs, scopeText, withKeys } from "./_shared.ts";

export default defineCommand({
  meta: { name: "issue", description: "Issue an API key; its secret is shown once." },
  args: {
    ...keyArgs,
    role: { type: "string", required: true, description: "admin, namespace, session or model-access." },
    name: { type: "string", description: "A label for people." },
    expires: { type: "string", description: "Lifetime: 30d, 12h, 1d12h (default: none)." },
    namespace: { type: "string", description: "Role namespace: its namespace (model-access: limits its reads)." },
    sandbox: {
      type: "string",
      description: "Role session: a sandbox id it may use; repeat for more, or give a comma list.",
    },
  },
  async run({ args, rawArgs }) {
    const { repeated } = await import("../db/_shared.ts");
    const sandboxes = repeated(rawArgs, "sandbox")
      .flatMap((s) => s.split(","))
      .filter((s) => s !== "");
    await withKeys(
      args,
      async (keys) => {
        const issued = await keys.issue({
          role: args.role as "admin",
          ...(args.name !== undefined ? { name: args.name } : {}),
          ...(args.expires !== undefined ? { expires: args.expires } : {}),
          ...(args.namespace !== undefined ? { namespace: args.namespace } : {}),
          ...(sandboxes.length ? { sandboxes } : {}),
        });
        if (args.json) {
          console.log(JSON.stringify(issued));
          return;
        }
        console.log(issued.key);
        process.stderr.write(
          `cave: issued ${issued.role} key ${issued.id} (${scopeText(issued)}${issued.expiresAt ? `, expires ${issued.expiresAt}` : ""}); ` +
            "the secret above is shown once: only its hash is kept\n",
        );
      },
      { events: true },
    );
  },
});
