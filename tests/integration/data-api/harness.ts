// The data API in-process on a temp database file: its own Engine, a RequestAuth that verifies
// HS256 tokens with jose (the contract of src/auth/types.ts), and helpers to call it.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { jwtVerify, SignJWT } from "jose";
import type { AuthContext, RequestAuth } from "../../../src/auth/types.ts";
import { Engine } from "../../../src/db/engine.ts";
import { openStore } from "../../../src/db/store/index.ts";
import { createDataApi } from "../../../src/server/data/index.ts";

const SECRET = new TextEncoder().encode("data-api-test-secret-of-32-characters!");

class Refused extends Error {
  constructor(readonly failure: "missing_apikey" | "invalid_jwt" | "expired_jwt") {
    super(failure);
  }
}

/** Verifies the bearer token, else the apikey, as the auth service does. */
export const jwtAuth: RequestAuth = {
  async authenticate({ apikey, authorization }): Promise<AuthContext> {
    const bearer = /^Bearer (.+)$/.exec(authorization ?? "")?.[1] ?? null;
    const token = bearer ?? apikey;
    if (!token) throw new Refused("missing_apikey");
    try {
      const { payload } = await jwtVerify(token, SECRET, { algorithms: ["HS256"] });
      return { role: String(payload.role), claims: payload as Record<string, unknown> };
    } catch (e) {
      throw new Refused((e as { code?: string }).code === "ERR_JWT_EXPIRED" ? "expired_jwt" : "invalid_jwt");
    }
  },
};

export function token(role: string, sub?: string, expSeconds = 3600): Promise<string> {
  return new SignJWT({ role, ...(sub ? { sub } : {}) })
    .setProtectedHeader({ alg: "HS256" })
    .setIssuedAt()
    .setExpirationTime(Math.floor(Date.now() / 1000) + expSeconds)
    .sign(SECRET);
}

export interface Harness {
  owner: Engine;
  fetch(path: string, init?: RequestInit & { role?: string; sub?: string; token?: string | null }): Promise<Response>;
  close(): void;
}

export async function harness(setup: string[], opts: { maxRows?: number | null } = {}): Promise<Harness> {
  const dir = mkdtempSync(join(tmpdir(), "cave-data-api-"));
  const file = join(dir, "cave.db");
  const owner = await Engine.open(openStore(file));
  for (const s of setup) await owner.query(s);
  const engine = await Engine.open(openStore(file));
  const api = createDataApi({ engine, auth: jwtAuth, ...(opts.maxRows !== undefined ? { maxRows: opts.maxRows } : {}) });
  return {
    owner,
    async fetch(path, init = {}) {
      const { role = "service_role", sub, token: given, ...rest } = init;
      const headers = new Headers(rest.headers);
      const t = given === undefined ? await token(role, sub) : given;
      if (t !== null) {
        headers.set("apikey", t);
        headers.set("authorization", `Bearer ${t}`);
      }
      const res = await api.handle(new Request(`http://cave.test${path}`, { ...rest, headers }));
      if (!res) throw new Error(`no data-API route for ${path}`);
      return res;
    },
    close() {
      engine.close();
      owner.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
