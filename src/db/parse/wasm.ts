// Loads the WASM SQL parser (datafusion-sqlparser-rs through @guanmingchiu/sqlparser-ts) on
// first use only: ~3.5 MB and ~60–90 ms to instantiate, so paths that never parse SQL never
// pay for it. The .wasm is imported as a file so `bun build --compile` embeds it; the generated
// glue is called directly instead of the package's init(), which resolves the .wasm by URL.
// @ts-expect-error the .d.ts beside the .wasm types its exports; Bun's file loader gives its path.
import wasmPath from "../../../node_modules/@guanmingchiu/sqlparser-ts/wasm/sqlparser_rs_wasm_bg.wasm" with {
  type: "file",
};

interface ParserGlue {
  initSync(module: { module: ArrayBuffer }): unknown;
  parse_sql_to_json_string(dialect: string, sql: string): string;
  /** The AST as JS objects (serde-wasm-bindgen: absent options are undefined, not null). */
  parse_sql(dialect: string, sql: string): unknown;
}

let glue: ParserGlue | null = null;
let loading: Promise<ParserGlue> | null = null;
let generation = 0;

const GLUE = "../../../node_modules/@guanmingchiu/sqlparser-ts/wasm/sqlparser_rs_wasm.js";

/** The parser's raw entry point, loading the module the first time. */
export async function loadParser(): Promise<ParserGlue> {
  if (glue) return glue;
  loading ??= (async () => {
    // After a trap the instance's memory is unusable, and the glue keeps its instance in
    // module scope: a fresh copy of the module gets a fresh instance.
    const mod = (generation === 0
      ? await import("../../../node_modules/@guanmingchiu/sqlparser-ts/wasm/sqlparser_rs_wasm.js")
      : await import(`${GLUE}?instance=${generation}`)) as unknown as ParserGlue;
    mod.initSync({ module: await Bun.file(wasmPath as string).arrayBuffer() });
    glue = mod;
    return mod;
  })();
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

/** Drops an instance that trapped (stack overflow inside WASM); the next parse loads a new one. */
export function discardParser(): void {
  glue = null;
  generation++;
}
