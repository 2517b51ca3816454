// Option parsing for verbs that take a command: options stop at `--` or at the first
// word that is not an option, so `cave run ls -l` and `cave run -- ls -l` both work and
// nothing after the command is read as cave's. Repeatable options collect into arrays.
import type { ArgsDef } from "citty";
import { CaveError } from "../core/errors.ts";

export interface SplitArgs {
  options: Record<string, string | boolean | string[]>;
  command: string[];
}

export function splitCommandArgs(rawArgs: string[], defs: ArgsDef, repeatable: readonly string[] = []): SplitArgs {
  const byName = new Map<string, { name: string; type: string | undefined }>();
  for (const [name, def] of Object.entries(defs)) {
    if (def.type === "positional") continue;
    byName.set(name, { name, type: def.type });
    const aliases = "alias" in def && def.alias ? (Array.isArray(def.alias) ? def.alias : [def.alias]) : [];
    for (const a of aliases) byName.set(a, { name, type: def.type });
  }
  const options: SplitArgs["options"] = {};
  let i = 0;
  for (; i < rawArgs.length; i++) {
    const a = rawArgs[i] as string;
    if (a === "--") {
      i++;
      break;
    }
    if (!a.startsWith("-") || a === "-") break;
    const eq = a.indexOf("=");
    const key = a.replace(/^--?/, "").slice(0, eq > 0 ? eq - (a.startsWith("--") ? 2 : 1) : undefined);
    const def = byName.get(key);
    if (!def) throw new CaveError("USAGE", `unknown option ${a.slice(0, eq > 0 ? eq : undefined)}`, { hint: "see the options with `cave run --help`; put the command after `--`" });
    let value: string | boolean;
    if (def.type === "boolean") {
      if (eq > 0) throw new CaveError("USAGE", `option --${def.name} takes no value`);
      value = true;
    } else if (eq > 0) {
      value = a.slice(eq + 1);
    } else {
      const next = rawArgs[++i];
      if (next === undefined) throw new CaveError("USAGE", `option --${def.name} needs a value`);
      value = next;
    }
    if (repeatable.includes(def.name)) {
      const prev = options[def.name];
      options[def.name] = [...(Array.isArray(prev) ? prev : []), String(value)];
    } else {
      options[def.name] = value;
    }
  }
  return { options, command: rawArgs.slice(i) };
}
