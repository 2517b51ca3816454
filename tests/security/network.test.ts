// Reaching host services: databases, admin APIs and agents often listen on the host's 127.0.0.1
// or on an abstract unix socket (containerd-shim, CVE-2020-15257), trusting that only local
// processes connect. The sandbox's own network namespace has its own lo and its own abstract
// socket namespace; --network host gives that isolation up, and only on request.
import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import { createServer, type Server } from "node:net";
import { networkInterfaces } from "node:os";
import { marker } from "../helpers/cave.ts";
import { clean, outcome, PROBES, useProbes } from "./harness.ts";

const probes = useProbes("connect");
/** A non-loopback IPv4 address of the host, where there is one. */
const external = Object.values(networkInterfaces())
  .flat()
  .find((i) => i && i.family === "IPv4" && !i.internal)?.address;

let http: ReturnType<typeof Bun.serve>;
let abstract: Server;
let abstractName: string;
beforeEach(async () => {
  http = Bun.serve({ port: 0, hostname: "0.0.0.0", fetch: () => new Response("host service") });
  abstractName = marker();
  abstract = createServer((c) => c.end("host abstract socket\n"));
  await new Promise<void>((resolve) => abstract.listen(`\0${abstractName}`, resolve));
});
afterEach(async () => {
  http.stop(true);
  await new Promise((resolve) => abstract.close(resolve));
});

describe("host services", () => {
  test("a service on the host's 127.0.0.1 is unreachable: the sandbox's lo is its own (ECONNREFUSED)", async () => {
    const target = `tcp:127.0.0.1:${http.port}`;
    expect(outcome(await probes.run([`${PROBES}/connect`, target]))).toEqual(clean({ [target]: "ECONNREFUSED" }));
  });

  test.skipIf(!external)(
    "the host's other addresses are unreachable: there is no route out (ENETUNREACH; skipped on a host with only loopback)",
    async () => {
      const target = `tcp:${external}:${http.port}`;
      expect(outcome(await probes.run([`${PROBES}/connect`, target]))).toEqual(clean({ [target]: "ENETUNREACH" }));
    },
  );

  test("an abstract unix socket on the host is unreachable (ECONNREFUSED)", async () => {
    const target = `unix:@${abstractName}`;
    expect(outcome(await probes.run([`${PROBES}/connect`, target]))).toEqual(clean({ [target]: "ECONNREFUSED" }));
  });

  test("with --network host, and only then, the same services answer", async () => {
    const targets = [`tcp:127.0.0.1:${http.port}`, `unix:@${abstractName}`];
    const r = await probes.run([`${PROBES}/connect`, ...targets], ["--network", "host"]);
    expect({ exitCode: r.exitCode, results: outcome(r).results }).toEqual({
      exitCode: 0,
      results: { [targets[0] as string]: "ok HTTP/1.1 200 OK", [targets[1] as string]: "ok host abstract socket" },
    });
  });
});
