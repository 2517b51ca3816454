// `cave db shell`: an interactive SQL prompt over the engine. A statement may span lines and
// ends with ';'; \q (or end of input) quits, \? helps. Statements are appended to the history
// file <data dir>/db_history, which the prompt reads back (up-arrow) on a terminal. With stdin
// not a terminal it reads a script: no prompts, the last statement may omit its ';', and the
// exit code is 1 if any statement failed.
import { appendFileSync, existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { defineCommand } from "citty";
import { writeStderr } from "../../../core/log.ts";
import { dbArgs, formatJson, formatTable, locate, openDbStore } from "./_shared.ts";
import { openEngine } from "./_engine.ts";

const HISTORY_KEEP = 1000;
const HELP = `Statements end with ';' and may span lines.
  \\q    quit (or Ctrl-D)
  \\?    this help
`;

export default defineCommand({
  meta: { name: "shell", description: "An interactive SQL prompt; statements end with ';', \\q quits." },
  args: { ...dbArgs, json: { type: "boolean", description: "Print each result as one JSON line." } },
  async run({ args }) {
    const { HISTORY_FILE } = await import("../../../db/paths.ts");
    const { splitStatements, isBlank } = await import("../../../db/script.ts");
    const loc = await locate(args);
    const store = await openDbStore(loc);
    const engine = await openEngine(store).catch((e) => {
      store.close();
      throw e;
    });
    const tty = process.stdin.isTTY === true;
    const historyPath = existsSync(loc.dataDir) ? join(loc.dataDir, HISTORY_FILE) : undefined;
    const history = tty && historyPath && existsSync(historyPath) ? readHistory(historyPath) : [];
    const rl = createInterface({
      input: process.stdin,
      output: tty ? process.stdout : undefined,
      terminal: tty,
      history,
      historySize: HISTORY_KEEP,
      prompt: "cave=> ",
    });
    if (tty) {
      process.stdout.write(`cave db shell: ${store.url}\nType \\? for help, \\q to quit.\n`);
      rl.prompt();
    }
    let buffer = "";
    let failed = 0;
    let quit = false;
    const run = async (statements: { text: string }[]) => {
      for (const s of statements) {
        if (historyPath) {
          try {
            appendFileSync(historyPath, `${s.text.replace(/\s*\n\s*/g, " ")};\n`, { mode: 0o600 });
          } catch {
            // A history that cannot be written must not stop the session.
          }
        }
        try {
          // A session can stay open for hours: catch up with DDL and policies changed elsewhere.
          await engine.syncCatalog();
          const result = await engine.query(s.text);
          process.stdout.write(args.json ? formatJson(result) : `${formatTable(result)}${tty ? "\n" : ""}`);
        } catch (e) {
          failed++;
          writeStderr(describe(e));
        }
      }
    };
    try {
      for await (const line of rl) {
        if (isBlank(buffer) && /^\s*\\/.test(line)) {
          const cmd = line.trim();
          if (cmd === "\\q") {
            quit = true;
            break;
          }
          if (cmd === "\\?") process.stdout.write(HELP);
          else writeStderr(`invalid command ${cmd}; try \\? for help\n`);
          buffer = "";
        } else {
          buffer += `${line}\n`;
          const { statements, rest } = splitStatements(buffer);
          buffer = rest;
          await run(statements);
        }
        if (tty) {
          rl.setPrompt(isBlank(buffer) ? "cave=> " : "cave-> ");
          rl.prompt();
        }
      }
      if (!quit && !isBlank(buffer)) {
        // A script's last statement may go without ';' (as with psql -f); at a prompt,
        // Ctrl-D on an unfinished statement drops it.
        if (tty) writeStderr("cave: the unfinished statement was not run\n");
        else await run(splitStatements(`${buffer}\n;`).statements);
      }
    } finally {
      rl.close();
      engine.close();
      store.close();
    }
    if (!tty && failed > 0) process.exitCode = 1;
  },
});

function describe(e: unknown): string {
  const err = e as { message?: string; sqlstate?: string; hint?: string; position?: number };
  const state = typeof err.sqlstate === "string" ? ` (SQLSTATE ${err.sqlstate})` : "";
  const hint = err.hint ? `\nHINT:  ${err.hint}` : "";
  return `ERROR:  ${err.message ?? String(e)}${state}${hint}\n`;
}

/** The history file, newest first as readline wants it. */
function readHistory(path: string): string[] {
  try {
    return readFileSync(path, "utf8").split("\n").filter(Boolean).slice(-HISTORY_KEEP).reverse();
  } catch {
    return [];
  }
}
