// The permission table walked whole: every route × every role, on a sandbox inside the key's
// scope and on one outside it, against a matrix written out here by hand (the oracle is this
// file, not roles.ts). Then the edges: anonymous calls, missing targets, create's namespace,
// list filtering, and the generated table in docs/governance.md.
import { describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { ROUTES } from "../../schema/api.ts";
import { KEY_ROUTES, ROLES, type Role } from "../../schema/governance.ts";
import { DOCS, withMatrix } from "../../scripts/gen-governance-doc.ts";
import { CaveError } from "../../src/core/errors.ts";
import type { Principal } from "../../src/governance/keys.ts";
import { authorize, namespaceForCreate, PERMISSIONS, type Target, visible } from "../../src/governance/roles.ts";

/** yes: on any target; own: only inside the key's scope; no: never. */
type Cell = "yes" | "own" | "no";
const EXPECTED: Record<string, Record<Role, Cell>> = {
  //                 admin   namespace session  model-access
  healthz: { admin: "yes", namespace: "yes", session: "yes", "model-access": "yes" },
  readyz: { admin: "yes", namespace: "yes", session: "yes", "model-access": "yes" },
  create: { admin: "yes", namespace: "own", session: "no", "model-access": "no" },
  list: { admin: "yes", namespace: "own", session: "no", "model-access": "own" },
  get: { admin: "yes", namespace: "own", session: "own", "model-access": "own" },
  start: { admin: "yes", namespace: "own", session: "no", "model-access": "no" },
  exec: { admin: "yes", namespace: "own", session: "own", "model-access": "no" },
  stop: { admin: "yes", namespace: "own", session: "no", "model-access": "no" },
  executions: { admin: "yes", namespace: "own", session: "no", "model-access": "no" },
  putFile: { admin: "yes", namespace: "own", session: "own", "model-access": "no" },
  getFile: { admin: "yes", namespace: "own", session: "own", "model-access": "no" },
  delete: { admin: "yes", namespace: "own", session: "no", "model-access": "no" },
  "keys.issue": { admin: "yes", namespace: "no", session: "no", "model-access": "no" },
  "keys.list": { admin: "yes", namespace: "no", session: "no", "model-access": "no" },
  "keys.revoke": { admin: "yes", namespace: "no", session: "no", "model-access": "no" },
  "keys.rotate": { admin: "yes", namespace: "no", session: "no", "model-access": "no" },
  data: { admin: "yes", namespace: "no", session: "no", "model-access": "no" },
  metrics: { admin: "yes", namespace: "no", session: "no", "model-access": "yes" },
};

const MINE = "0123456789ab";
const THEIRS = "ba9876543210";
const principals: Record<Role, Principal> = {
  admin: { keyId: "k-admin", role: "admin", name: null, scope: { namespace: null, sandboxes: [] } },
  namespace: { keyId: "k-ns", role: "namespace", name: null, scope: { namespace: "team-a", sandboxes: [] } },
  session: { keyId: "k-sess", role: "session", name: null, scope: { namespace: null, sandboxes: [MINE] } },
  "model-access": { keyId: "k-model", role: "model-access", name: null, scope: { namespace: "team-a", sandboxes: [] } },
};
const inside: Target = { sandboxId: MINE, namespace: "team-a" };
const outside: Target = { sandboxId: THEIRS, namespace: "team-b" };

/** What authorize() (or, for list, visible()) decides: "ok" or the error code. */
function decide(route: string, p: Principal, target: Target): string {
  try {
    authorize(p, route, target);
    if (route === "list" && !visible(p, route, target)) return "hidden";
    return "ok";
  } catch (e) {
    if (e instanceof CaveError) return e.code;
    throw e;
  }
}

describe("the permission table", () => {
  test("names exactly the API's routes, the /v1/keys routes, data and metrics", () => {
    expect(Object.keys(PERMISSIONS).sort()).toEqual(
      [...Object.keys(ROUTES), ...Object.keys(KEY_ROUTES), "data", "metrics"].sort(),
    );
    expect(Object.keys(EXPECTED).sort()).toEqual(Object.keys(PERMISSIONS).sort());
  });

  test("every route × every role, inside and outside the key's scope, decides as the matrix says", () => {
    const got: Record<string, Record<string, [string, string]>> = {};
    const want: Record<string, Record<string, [string, string]>> = {};
    for (const route of Object.keys(EXPECTED)) {
      got[route] = {};
      want[route] = {};
      for (const role of ROLES) {
        const p = principals[role];
        const denied = route === "list" ? "hidden" : "FORBIDDEN";
        const cell = EXPECTED[route]?.[role] as Cell;
        want[route][role] =
          cell === "yes" ? ["ok", "ok"] : cell === "own" ? ["ok", denied] : ["FORBIDDEN", "FORBIDDEN"];
        got[route][role] = [decide(route, p, inside), decide(route, p, outside)];
      }
    }
    expect(got).toEqual(want);
  });

  test("the public probes need no key; every other route without one is AUTH_REQUIRED", () => {
    const codes = Object.keys(PERMISSIONS).map((route) => {
      try {
        authorize(null, route, inside);
        return [route, "ok"];
      } catch (e) {
        return [route, (e as CaveError).code];
      }
    });
    expect(Object.fromEntries(codes)).toEqual(
      Object.fromEntries(
        Object.keys(PERMISSIONS).map((r) => [r, r === "healthz" || r === "readyz" ? "ok" : "AUTH_REQUIRED"]),
      ),
    );
  });

  test("fails closed: an unknown route, a scoped check without its target, a sandbox with no namespace", () => {
    const ns = principals.namespace;
    expect(() => authorize(principals.admin, "nonsense")).toThrow(
      "route nonsense has no entry in the permission table",
    );
    expect(() => authorize(ns, "exec")).toThrow("authorize(exec) needs the target sandbox");
    expect(() => authorize(principals.session, "exec", { namespace: "team-a" })).toThrow(
      "the sandbox is not one of the key's sandboxes",
    );
    // A sandbox made by an admin or the CLI has no namespace: no namespace key reaches it.
    expect(() => authorize(ns, "get", { sandboxId: MINE, namespace: null })).toThrow(
      `API key k-ns (role namespace) may not call get: the sandbox is outside its namespace team-a`,
    );
    expect(visible(ns, "list", { sandboxId: MINE })).toBe(false);
    // An admin needs no target at all.
    expect(() => authorize(principals.admin, "exec")).not.toThrow();
  });

  test("a model-access key without a namespace reads every sandbox, and still may not change any", () => {
    const p: Principal = { keyId: "k", role: "model-access", name: null, scope: { namespace: null, sandboxes: [] } };
    expect([
      decide("get", p, outside),
      decide("list", p, outside),
      decide("exec", p, outside),
      decide("create", p, outside),
    ]).toEqual(["ok", "ok", "FORBIDDEN", "FORBIDDEN"]);
  });

  test("create: a namespace key's sandboxes land in its namespace, and it cannot ask for another; an admin's go where it asks", () => {
    const ns = principals.namespace;
    expect(namespaceForCreate(ns)).toBe("team-a");
    expect(namespaceForCreate(ns, "team-a")).toBe("team-a");
    expect(() => namespaceForCreate(ns, "team-b")).toThrow('namespace "team-b" is not its namespace team-a');
    expect(() => namespaceForCreate(principals.session)).toThrow("the session role does not allow it");
    expect(namespaceForCreate(principals.admin)).toBeNull();
    expect(namespaceForCreate(principals.admin, "team-b")).toBe("team-b");
  });

  test.each(DOCS)("%s carries the current matrix (run `bun scripts/gen-governance-doc.ts` when this fails)", (path) => {
    const doc = readFileSync(path, "utf8");
    expect(doc).toBe(withMatrix(doc));
    expect(doc).toContain("| `exec` (POST /v1/sandboxes/{id}/exec) | yes | own namespace | own sandboxes | — |");
  });
});
