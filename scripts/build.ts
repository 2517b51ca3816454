// Builds the single executable dist/cave (`make build` runs this). It is `bun build --compile`
// plus one plugin that makes the libSQL native addon survive compilation:
//
// libsql's index.js finds its addon with a dynamic require(`@libsql/${target}`), which the
// bundler cannot follow, so a compiled cave failed with "Cannot find module
// '@libsql/linux-x64-gnu'" outside the source tree. The plugin replaces that lookup with a
// static require of the addon's index.node for the build machine's platform; Bun embeds a
// statically required .node file and loads it from the executable at run time.
//
// The WASM SQL parser needs nothing here: src/db/parse/wasm.ts imports the .wasm
// `with { type: "file" }`, which embeds it. tests/e2e/db.test.ts proves both from a
// directory with no node_modules.
import { existsSync } from "node:fs";
import { dirname, join } from "node:path";
import type { BunPlugin } from "bun";
import { STARTUP_JIT_POLICY } from "../src/core/jit.ts";

const root = join(import.meta.dir, "..");
const outfile = process.argv[2] ?? join(root, "dist/cave");
/** Another entry point compiled the same way (bench/run.sh builds bench/sandbox-only.ts so). */
const entry = process.argv[3] ?? join(root, "src/cli/main.ts");

/** The addon package for this machine. Bun's Linux builds link glibc, so it is the -gnu one. */
function libsqlAddon(): string {
  if (process.platform !== "linux") throw new Error(`cave builds on Linux only, not ${process.platform}`);
  const pkg = { x64: "@libsql/linux-x64-gnu", arm64: "@libsql/linux-arm64-gnu" }[process.arch as "x64" | "arm64"];
  if (!pkg) throw new Error(`no libSQL addon for linux-${process.arch}`);
  const libsqlDir = dirname(require.resolve("libsql/package.json", { paths: [root] }));
  const addon = join(dirname(require.resolve(`${pkg}/package.json`, { paths: [libsqlDir, root] })), "index.node");
  if (!existsSync(addon)) throw new Error(`${addon} is missing: run npm ci (it installs ${pkg} for this platform)`);
  return addon;
}

const LOOKUP = "function requireNative() {";

const libsqlStaticAddon: BunPlugin = {
  name: "libsql-static-addon",
  setup(build) {
    const addon = libsqlAddon();
    // index.js (the synchronous API) and promise.js (the one /query runs on) load the same addon.
    build.onLoad({ filter: /[\\/]node_modules[\\/]libsql[\\/](?:index|promise)\.js$/ }, async (args) => {
      const text = await Bun.file(args.path).text();
      // Fail the build when a new libsql changes the lookup, instead of shipping a binary
      // that cannot open a database.
      if (!text.includes(LOOKUP)) throw new Error(`${args.path}: no "${LOOKUP}" to replace; update scripts/build.ts`);
      const contents = text.replace(
        LOOKUP,
        `function requireNative() { return require(${JSON.stringify(addon)}); }\nfunction requireNativeDynamic() {`,
      );
      return { contents, loader: "js" };
    });
  },
};

const result = await Bun.build({
  entrypoints: [entry],
  minify: true,
  bytecode: true,
  // ESM with code splitting: each lazily imported verb becomes its own chunk, so a start-up
  // compiles only the chunks it imports. One bundle made `cave version` parse all of
  // cave (SQL engine, server) first: 9.7 → 6.9 ms in one hyperfine run here.
  format: "esm",
  splitting: true,
  plugins: [libsqlStaticAddon],
  compile: {
    outfile,
    // A Bun executable reads .env and bunfig.toml from the current directory by default; a
    // bunfig.toml `preload` there would run its code inside cave (as root, with sudo).
    autoloadDotenv: false,
    autoloadBunfig: false,
    // Start-up code stays in the interpreter; cave sets the normal policy back once a run's
    // command has started and at the start of every other verb (src/core/jit.ts).
    jitPolicy: STARTUP_JIT_POLICY,
  },
});
if (!result.success) {
  for (const log of result.logs) console.error(log);
  process.exit(1);
}
