#!/usr/bin/env bun
// cave's entry point: a citty root whose verbs load lazily, so `cave run` never
// loads server or database code. Errors become output only in ./report.ts.
// `cave run` skips citty altogether (it costs ~1.5 ms to load, node:util included):
// start-up latency is what a sandbox is measured by.
import type { CommandDef } from "citty";
import pkg from "../../package.json" with { type: "json" };
import { reportError } from "./report.ts";
import { wantsHelp } from "./help.ts";
import { mark } from "../core/trace.ts";
import { normalJitPolicy } from "../core/jit.ts";

mark("cli loaded");

const main: CommandDef = {
  meta: { name: "cave", version: pkg.version, description: "Run untrusted code in a Linux sandbox." },
  subCommands: {
    run: () => import("./commands/run.ts").then((m) => m.default),
    version: () => import("./commands/version.ts").then((m) => m.default),
    config: () => import("./commands/config/index.ts").then((m) => m.default),
    db: () => import("./commands/db/index.ts").then((m) => m.default),
    create: () => import("./commands/sandbox/create.ts").then((m) => m.default),
    start: () => import("./commands/sandbox/start.ts").then((m) => m.default),
    exec: () => import("./commands/sandbox/exec.ts").then((m) => m.default),
    stop: () => import("./commands/sandbox/stop.ts").then((m) => m.default),
    rm: () => import("./commands/sandbox/rm.ts").then((m) => m.default),
    ls: () => import("./commands/sandbox/ls.ts").then((m) => m.default),
    inspect: () => import("./commands/sandbox/inspect.ts").then((m) => m.default),
    cp: () => import("./commands/sandbox/cp.ts").then((m) => m.default),
    logs: () => import("./commands/sandbox/logs.ts").then((m) => m.default),
    serve: () => import("./commands/serve.ts").then((m) => m.default),
    keys: () => import("./commands/keys/index.ts").then((m) => m.default),
    webhook: () => import("./commands/webhook/index.ts").then((m) => m.default),
    audit: () => import("./commands/audit/index.ts").then((m) => m.default),
  },
};

async function resolveChain(rawArgs: string[]): Promise<[CommandDef, CommandDef | undefined]> {
  let cmd: CommandDef = main;
  let parent: CommandDef | undefined;
  for (const a of rawArgs) {
    if (a.startsWith("-")) break;
    const subs = typeof cmd.subCommands === "function" ? await cmd.subCommands() : await cmd.subCommands;
    const next = subs?.[a];
    if (!next) break;
    parent = cmd;
    cmd = (typeof next === "function" ? await next() : await next) as CommandDef;
  }
  return [cmd, parent];
}

async function cli(rawArgs: string[]): Promise<void> {
  const debug = rawArgs.includes("--debug");
  try {
    if (rawArgs[0] === "run" && !wantsHelp(rawArgs)) {
      const { runMain } = await import("./commands/run.ts");
      await runMain(rawArgs.slice(1));
    }
    // Only `cave run`'s set-up runs under the start-up JIT policy (src/core/jit.ts).
    normalJitPolicy();
    const { runCommand, showUsage } = await import("citty");
    if (rawArgs.length === 0 || wantsHelp(rawArgs)) {
      const [cmd, parent] = await resolveChain(rawArgs);
      await showUsage(cmd, parent);
      process.exit(rawArgs.length === 0 ? 2 : 0);
    }
    if (rawArgs.length === 1 && (rawArgs[0] === "--version" || rawArgs[0] === "-v")) {
      console.log(pkg.version);
      return;
    }
    await runCommand(main, { rawArgs });
  } catch (e) {
    process.exit(reportError(e, { debug }));
  }
}

void cli(process.argv.slice(2));
