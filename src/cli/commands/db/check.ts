// `cave db check`: PRAGMA integrity_check on the database (or on a backup, with --url FILE).
// An operation on the file, like checkpoint and backup, not user SQL: it goes to the store.
import { defineCommand } from "citty";
import { dbArgs, locate, openDbStore } from "./_shared.ts";

export default defineCommand({
  meta: { name: "check", description: "Verify the database file's integrity (PRAGMA integrity_check); exit 1 on damage." },
  args: { ...dbArgs, json: { type: "boolean", description: "Print { url, ok, problems } as JSON." } },
  async run({ args }) {
    const store = await openDbStore(await locate(args));
    try {
      const r = await store.execute("PRAGMA integrity_check", []);
      const problems = r.rows.map((row) => String(row[0])).filter((p) => p !== "ok");
      if (args.json) console.log(JSON.stringify({ url: store.url, ok: problems.length === 0, problems }));
      else if (problems.length === 0) console.log(`${store.url}: ok`);
      else console.log(`${store.url}: damaged\n${problems.map((p) => `  ${p}`).join("\n")}`);
      if (problems.length > 0) process.exitCode = 1;
    } finally {
      store.close();
    }
  },
});
