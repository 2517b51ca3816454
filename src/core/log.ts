// Messages for people, on stderr (stdout belongs to the sandboxed command). consola loads
// on the first message, so a quiet `cave run` never pays for it.
import type { ConsolaInstance } from "consola";

let instance: ConsolaInstance | undefined;
function consola(): ConsolaInstance {
  if (!instance) {
    const { createConsola } = require("consola/basic") as typeof import("consola/basic");
    instance = createConsola({ stdout: process.stderr, stderr: process.stderr, formatOptions: { date: false } });
  }
  return instance;
}

export function warn(message: string): void {
  consola().warn(message);
}

export function info(message: string): void {
  consola().info(message);
}
