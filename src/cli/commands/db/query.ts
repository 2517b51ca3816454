// `cave db query "SQL" [--param V …] [--json]`: one statement through the SQL engine; a
// table for people, one JSON line for machines. Parameters are $1, $2… in order, as text.
import { defineCommand } from "citty";
import { writeStderr } from "../../../core/log.ts";
import { dbArgs, formatJson, formatTable, locate, repeated, openDbStore } from "./_shared.ts";
import { openEngine } from "./_engine.ts";

export default defineCommand({
  meta: { name: "query", description: 'Run one SQL statement: cave db query "SELECT …" [--param V …] [--json]' },
  args: {
    ...dbArgs,
    sql: {
      type: "positional",
      required: true,
      description: "The statement, with $1, $2… for parameters; - reads it from stdin.",
    },
    param: { type: "string", description: "A value for the next $N, as text (repeatable)." },
    json: { type: "boolean", description: "Print the result as one JSON line: command, columns, rows, rowCount." },
  },
  async run({ args, rawArgs }) {
    const loc = await locate(args);
    const store = await openDbStore(loc);
    try {
      const engine = await openEngine(store);
      try {
        const sql = args.sql === "-" ? await Bun.stdin.text() : args.sql;
        const result = await engine.query(sql, repeated(rawArgs, "param"));
        process.stdout.write(args.json ? formatJson(result) : formatTable(result));
        if (!args.json && store.inTransaction()) {
          writeStderr("cave: warning: the transaction was left open and is rolled back on exit\n");
        }
      } finally {
        engine.close();
      }
    } finally {
      store.close();
    }
  },
});
