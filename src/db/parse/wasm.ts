// Loads the WASM SQL parser (datafusion-sqlparser-rs through @guanmingchiu/sqlparser-ts) on
// first use only: ~3.5 MB and ~60–90 ms to compile, so paths that never parse SQL never pay for
// it. The .wasm is imported as a file and the wasm-bindgen glue as text, so `bun build
// --compile` embeds both. The glue is instantiated from a blob URL rather than imported by
// path: when the parser traps (its stack overflows inside WASM on a very deep AST) the
// instance's memory is left unusable and the glue keeps that instance in module scope, so
// recovery needs a fresh copy of the module — ~1.5 ms from the compiled WebAssembly.Module.
// @ts-expect-error the .d.ts beside the .wasm types its exports; Bun's file loader gives its path.
import wasmPath from "../../../node_modules/@guanmingchiu/sqlparser-ts/wasm/sqlparser_rs_wasm_bg.wasm" with {
  type: "file",
};
import glueSource from "../../../node_modules/@guanmingchiu/sqlparser-ts/wasm/sqlparser_rs_wasm.js" with { type: "text" };

interface ParserGlue {
  initSync(module: { module: WebAssembly.Module }): unknown;
  /** The AST as JS objects (serde-wasm-bindgen: absent options are undefined, not null). */
  parse_sql(dialect: string, sql: string): unknown;
}

let compiled: WebAssembly.Module | null = null;
let glue: ParserGlue | null = null;
let loading: Promise<ParserGlue> | null = null;

async function instantiate(): Promise<ParserGlue> {
  compiled ??= new WebAssembly.Module(await Bun.file(wasmPath as string).arrayBuffer());
  const url = URL.createObjectURL(new Blob([glueSource as unknown as string], { type: "text/javascript" }));
  try {
    const mod = (await import(url)) as ParserGlue;
    mod.initSync({ module: compiled });
    return mod;
  } finally {
    URL.revokeObjectURL(url);
  }
}

/** The parser's raw entry point, loading the module the first time. */
export async function loadParser(): Promise<ParserGlue> {
  if (glue) return glue;
  loading ??= instantiate().then((g) => (glue = g));
  try {
    return await loading;
  } finally {
    loading = null;
  }
}

/** The loaded parser, or null before the first `loadParser()` finished. */
export function loadedParser(): ParserGlue | null {
  return glue;
}

/** Drops an instance that trapped; the next parse makes a fresh one. */
export function discardParser(): void {
  glue = null;
}
