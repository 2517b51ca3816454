// The sandbox verbs talk to one of two backends with the same shape: the data directory
// directly (the lifecycle module, no daemon), or a remote `cave serve` when --url or CAVE_URL
// is given (with --key or CAVE_API_KEY). The verbs do not know which.
import type { RunSettings } from "../../../core/config.ts";
import { CaveError } from "../../../core/errors.ts";
import { writeStderr } from "../../../core/log.ts";
import type { Usage } from "../../../sandbox/cgroups/index.ts";
import type { RunResult } from "../../../sandbox/run.ts";
import type { Execution, ExecRequest, Sandbox, Sandboxes } from "../../../server/sandboxes.ts";

/** What `cave create` asks for: settings resolved locally, or the flags as the API takes them. */
export interface CreateInput {
  settings: () => RunSettings;
  /** The API body's fields, from the flags (strings as typed). */
  body: Record<string, unknown>;
  /** Flags the API does not take (binds, capabilities, rlimits, rootfs): refused remotely. */
  localOnly: string[];
  name?: string | undefined;
}

export interface SandboxClient {
  create(input: CreateInput): Promise<Sandbox>;
  get(ref: string): Promise<Sandbox>;
  list(): Promise<Sandbox[]>;
  start(ref: string): Promise<Sandbox>;
  /** Runs the command with this process's stdout and stderr; resolves with its result. */
  exec(ref: string, req: ExecRequest): Promise<RunResult>;
  stop(ref: string, graceMs: number): Promise<Sandbox>;
  rm(ref: string, force: boolean): Promise<void>;
  executions(ref: string, limit: number): Promise<Execution[]>;
  /** What a running sandbox uses now; null otherwise. */
  usage(ref: string): Promise<Usage | null>;
  readFile(ref: string, path: string): Promise<Uint8Array>;
  writeFile(ref: string, path: string, data: Uint8Array): Promise<void>;
  /** Local only: kill what runs in sandbox cgroups nobody owns (the server does it itself). */
  recover(): Promise<void>;
  close(): void;
}

export function localClient(boxes: Sandboxes): SandboxClient {
  return {
    create: (i) => boxes.create(i.settings(), i.name),
    get: (r) => boxes.get(r),
    list: () => boxes.list(),
    start: (r) => boxes.start(r),
    exec: (r, req) => boxes.exec(r, req),
    stop: (r, g) => boxes.stop(r, g),
    rm: async (r, force) => {
      const s = await boxes.get(r);
      await boxes.rm(s.id, { force });
    },
    executions: (r, n) => boxes.executions(r, n),
    usage: (r) => boxes.usage(r),
    readFile: (r, p) => boxes.readFile(r, p),
    writeFile: (r, p, d) => boxes.writeFile(r, p, d),
    recover: async () => {
      await boxes.recover();
    },
    close: () => boxes.close(),
  };
}

/** A client of `cave serve` at `url`, authenticated with `key`. */
export function remoteClient(url: string, key: string | undefined): SandboxClient {
  if (!key) {
    throw new CaveError("AUTH_REQUIRED", `no API key for ${url}`, { hint: "give --key or set CAVE_API_KEY (the key cave serve showed at its first start, or CAVE_ADMIN_KEY)" });
  }
  const base = url.replace(/\/+$/, "");
  const request = async (method: string, path: string, body?: Uint8Array | object): Promise<Response> => {
    let res: Response;
    const isJson = body !== undefined && !(body instanceof Uint8Array);
    try {
      res = await fetch(`${base}${path}`, {
        method,
        headers: { authorization: `Bearer ${key}`, ...(isJson ? { "content-type": "application/json" } : {}) },
        ...(body !== undefined ? { body: isJson ? JSON.stringify(body) : (body as Uint8Array) } : {}),
      });
    } catch (e) {
      throw new CaveError("REMOTE_UNREACHABLE", `cannot reach ${base}: ${(e as Error).message}`, { hint: "check --url / CAVE_URL and that cave serve runs there", cause: e });
    }
    if (!res.ok) {
      const text = await res.text();
      let err: { code?: string; message?: string } = {};
      try {
        err = (JSON.parse(text) as { error?: typeof err }).error ?? {};
      } catch {
        // not cave's error body: report the status
      }
      throw new CaveError(err.code ?? "REMOTE_ERROR", err.message ?? `${method} ${path}: HTTP ${res.status}`);
    }
    return res;
  };
  const jsonOf = async <T>(res: Response): Promise<T> => (await res.json()) as T;
  const id = (ref: string) => encodeURIComponent(ref);
  return {
    create: async (i) => {
      if (i.localOnly.length > 0) {
        throw new CaveError("USAGE", `${i.localOnly.join(", ")} cannot be given to a remote cave serve yet`, { hint: "create it on the server's host, or leave those flags out" });
      }
      return jsonOf(await request("POST", "/v1/sandboxes", { ...i.body, ...(i.name !== undefined ? { name: i.name } : {}) }));
    },
    get: async (r) => jsonOf(await request("GET", `/v1/sandboxes/${id(r)}`)),
    list: async () => jsonOf(await request("GET", "/v1/sandboxes")),
    start: async (r) => jsonOf(await request("POST", `/v1/sandboxes/${id(r)}/start`)),
    stop: async (r, graceMs) => jsonOf(await request("POST", `/v1/sandboxes/${id(r)}/stop`, { grace: `${graceMs}ms` === "0ms" ? 0 : `${graceMs}ms` })),
    rm: async (r, force) => {
      await request("DELETE", `/v1/sandboxes/${id(r)}${force ? "?force=true" : ""}`);
    },
    executions: async (r, n) => jsonOf(await request("GET", `/v1/sandboxes/${id(r)}/executions?limit=${n}`)),
    usage: async (r) => (await jsonOf<{ usage?: Usage | null }>(await request("GET", `/v1/sandboxes/${id(r)}`))).usage ?? null,
    readFile: async (r, p) => new Uint8Array(await (await request("GET", `/v1/sandboxes/${id(r)}/files?path=${encodeURIComponent(p)}`)).arrayBuffer()),
    writeFile: async (r, p, d) => {
      await request("PUT", `/v1/sandboxes/${id(r)}/files?path=${encodeURIComponent(p)}`, d);
    },
    exec: async (r, req) => {
      const stdin = await pipedStdin();
      const body = {
        ...(stdin ? { stdin } : {}),
        cmd: req.argv,
        ...(req.env && Object.keys(req.env).length ? { env: req.env } : {}),
        ...(req.workdir !== undefined ? { workdir: req.workdir } : {}),
        ...(req.timeoutMs !== undefined ? { timeout: `${req.timeoutMs}ms` } : {}),
      };
      const res = await request("POST", `/v1/sandboxes/${id(r)}/exec?stream=ndjson`, body);
      return relay(res);
    },
    recover: async () => {},
    close: () => {},
  };
}

/**
 * What was piped or redirected into cave (a pipe or a file), read whole, for a remote exec's
 * stdin (the API takes it as text up front); nothing from a terminal or /dev/null. A pipe
 * that never closes makes this wait, as it would a local `cat`.
 */
async function pipedStdin(): Promise<string> {
  const { fstatSync } = await import("node:fs");
  let st: ReturnType<typeof fstatSync>;
  try {
    st = fstatSync(0);
  } catch {
    return "";
  }
  return st.isFIFO() || st.isFile() ? await Bun.stdin.text() : "";
}

/** Writes a streamed exec's output to stdout/stderr as it comes; resolves with the exit line. */
async function relay(res: Response): Promise<RunResult> {
  const { writeSync } = await import("node:fs");
  const reader = (res.body as ReadableStream<Uint8Array>).getReader();
  const dec = new TextDecoder();
  let buf = "";
  let result: RunResult | null = null;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    buf += dec.decode(value, { stream: true });
    let nl = buf.indexOf("\n");
    while (nl >= 0) {
      const ev = JSON.parse(buf.slice(0, nl)) as { type: string; data?: string; error?: { code: string; message: string } } & RunResult;
      buf = buf.slice(nl + 1);
      nl = buf.indexOf("\n");
      if (ev.type === "stdout") writeAll(writeSync, 1, ev.data ?? "");
      else if (ev.type === "stderr") writeStderr(ev.data ?? "");
      else if (ev.type === "exit") {
        const { type: _t, ...rest } = ev;
        result = rest as RunResult;
      } else if (ev.type === "error") throw new CaveError(ev.error?.code ?? "REMOTE_ERROR", ev.error?.message ?? "the exec failed on the server");
    }
  }
  if (!result) throw new CaveError("REMOTE_ERROR", "the server ended the exec's stream without a result", { hint: "see the server's log" });
  return result;
}

function writeAll(write: (fd: number, b: Buffer, off: number) => number, fd: number, text: string): void {
  const b = Buffer.from(text);
  let off = 0;
  try {
    while (off < b.byteLength) off += write(fd, b, off);
  } catch {
    // a closed stdout (| head): the exit status still comes from the command
  }
}
