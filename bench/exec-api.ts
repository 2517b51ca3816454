// The API row of bench/exec.sh: N sequential `POST /v1/sandboxes/{id}/exec` of /bin/true
// against a server that is already running (no Bun start per call), each timed from just
// before fetch to the parsed JSON answer, on one keep-alive connection (Bun's fetch pools it).
// Usage: CAVE_URL=… CAVE_KEY=… bun bench/exec-api.ts ID RUNS WARMUP OUT.json NAME
// OUT.json is shaped like hyperfine's --export-json (times in seconds), so report.ts reads
// it like the other rows; server_ms holds the durationMs the server reported for each run.
import { writeFileSync } from "node:fs";

const [id, runsArg, warmupArg, out, name = "api"] = process.argv.slice(2);
const url = process.env.CAVE_URL ?? "";
const key = process.env.CAVE_KEY ?? "";
const runs = Number(runsArg);
const warmup = Number(warmupArg ?? 0);
if (!id || !out || !url || !key || !(runs >= 1) || !(warmup >= 0)) {
  throw new Error("usage: CAVE_URL=… CAVE_KEY=… bun bench/exec-api.ts ID RUNS WARMUP OUT.json [NAME]");
}

const endpoint = `${url.replace(/\/$/, "")}/v1/sandboxes/${id}/exec`;
const init = {
  method: "POST",
  headers: { authorization: `Bearer ${key}`, "content-type": "application/json", connection: "keep-alive" },
  body: JSON.stringify({ cmd: ["/bin/true"] }),
  keepalive: true,
};

/** One round trip; throws unless /bin/true ran and exited 0. Returns [seconds, server ms]. */
async function once(): Promise<[number, number]> {
  const t0 = performance.now();
  const res = await fetch(endpoint, init);
  const body = (await res.json()) as { exitCode?: number; durationMs?: number };
  const t1 = performance.now();
  if (res.status !== 200 || body.exitCode !== 0) {
    throw new Error(`exec answered ${res.status}: ${JSON.stringify(body)}`);
  }
  return [(t1 - t0) / 1000, body.durationMs ?? Number.NaN];
}

for (let i = 0; i < warmup; i++) await once();
const times: number[] = [];
const server: number[] = [];
for (let i = 0; i < runs; i++) {
  const [t, s] = await once();
  times.push(t);
  server.push(s);
}

const sorted = [...times].sort((a, b) => a - b);
const mid = Math.floor(sorted.length / 2);
const median = sorted.length % 2 ? (sorted[mid] as number) : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
const mean = times.reduce((a, b) => a + b, 0) / times.length;
const stddev =
  times.length > 1 ? Math.sqrt(times.reduce((a, b) => a + (b - mean) ** 2, 0) / (times.length - 1)) : null;
const result = {
  command: name,
  median,
  mean,
  stddev,
  min: sorted[0],
  max: sorted[sorted.length - 1],
  times,
  server_ms: server,
};
writeFileSync(out, `${JSON.stringify({ results: [result] }, null, 2)}\n`);
console.error(
  `${name}: median ${(median * 1000).toFixed(2)} ms, mean ${(mean * 1000).toFixed(2)} ms, ` +
    `min ${((sorted[0] as number) * 1000).toFixed(2)} ms, max ${((sorted[sorted.length - 1] as number) * 1000).toFixed(2)} ms (${runs} runs)`,
);
