// When to show help: `--help` counts only among cave's own options.

/** Options end at `--`: `cave run -- grep --help` is grep's help, not cave's. */
export function wantsHelp(rawArgs: string[]): boolean {
  for (const a of rawArgs) {
    if (a === "--") return false;
    if (a === "--help" || a === "-h") return true;
  }
  return false;
}
