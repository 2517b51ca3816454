// Who may call what: one table from route name (schema/api.ts ROUTES, the /v1/keys routes of
// schema/governance.ts, and `data`/`metrics` for the data API and /metrics) to the roles allowed
// and the scope each one is held to. docs/governance.md's matrix is generated from it
// (scripts/gen-governance-doc.ts; a test fails when the doc is stale).
//
// What the HTTP layer calls, after keys.authenticate() and before the handler:
//   authorize(principal, route, target)   → void | throws CaveError FORBIDDEN (403)
//     target for sandbox routes: { sandboxId, namespace } of the sandbox AFTER resolving the
//     id-or-name in the path (boxes.get), so a name cannot dodge the check;
//     for `create`: { namespace } the new sandbox will get: namespaceForCreate(principal, asked);
//     for collection routes (list, keys.list) and the rest: no target.
//   visible(principal, route, sandbox) → boolean   filters `list` to what the key may see.
// Unknown routes and missing targets are refused (fail closed).
import type { ROUTES } from "../../schema/api.ts";
import { type KEY_ROUTES, ROLES, type Role } from "../../schema/governance.ts";
import { CaveError } from "../core/errors.ts";
import type { Principal } from "./keys.ts";

/**
 * - `any`: every target;
 * - `namespace`: targets in the key's namespace (a model-access key without one: every target);
 * - `sandboxes`: the sandboxes listed in the key;
 * - `false`: never.
 */
export type Rule = "any" | "namespace" | "sandboxes" | false;

/** What a route acts on, which says what target authorize() needs. */
export type TargetKind = "sandbox" | "new-sandbox" | "collection" | "none";

export type RouteName = keyof typeof ROUTES | keyof typeof KEY_ROUTES | "data" | "metrics";

export interface Permission {
  /** Answered without a key (liveness and readiness probes). */
  public: boolean;
  target: TargetKind;
  roles: Record<Role, Rule>;
}

const only = (rules: Partial<Record<Role, Rule>>): Record<Role, Rule> => ({
  admin: false,
  namespace: false,
  session: false,
  "model-access": false,
  ...rules,
});
const sandbox = (rules: Partial<Record<Role, Rule>>): Permission => ({
  public: false,
  target: "sandbox",
  roles: only({ admin: "any", ...rules }),
});
const adminOnly = (target: TargetKind = "none"): Permission => ({
  public: false,
  target,
  roles: only({ admin: "any" }),
});
const everyone: Permission = {
  public: true,
  target: "none",
  roles: only({ admin: "any", namespace: "any", session: "any", "model-access": "any" }),
};

export const PERMISSIONS: Record<RouteName, Permission> = {
  healthz: everyone,
  readyz: everyone,
  create: { public: false, target: "new-sandbox", roles: only({ admin: "any", namespace: "namespace" }) },
  list: {
    public: false,
    target: "collection",
    roles: only({ admin: "any", namespace: "namespace", "model-access": "namespace" }),
  },
  get: sandbox({ namespace: "namespace", session: "sandboxes", "model-access": "namespace" }),
  start: sandbox({ namespace: "namespace" }),
  exec: sandbox({ namespace: "namespace", session: "sandboxes" }),
  stop: sandbox({ namespace: "namespace" }),
  executions: sandbox({ namespace: "namespace" }),
  putFile: sandbox({ namespace: "namespace", session: "sandboxes" }),
  getFile: sandbox({ namespace: "namespace", session: "sandboxes" }),
  delete: sandbox({ namespace: "namespace" }),
  "keys.issue": adminOnly(),
  "keys.list": adminOnly("collection"),
  "keys.revoke": adminOnly(),
  "keys.rotate": adminOnly(),
  data: adminOnly(),
  // A Prometheus scraper needs no power over sandboxes or keys: the read-only role suffices.
  metrics: { public: false, target: "none", roles: only({ admin: "any", "model-access": "any" }) },
};

/** The sandbox a route acts on (for `create`: only the namespace it will get). */
export interface Target {
  sandboxId?: string;
  /** The sandbox's namespace; null or absent when it has none (made by an admin or the CLI). */
  namespace?: string | null;
}

function forbidden(p: Principal, route: string, why: string): CaveError {
  return new CaveError("FORBIDDEN", `API key ${p.keyId} (role ${p.role}) may not call ${route}: ${why}`, {
    hint: "use a key whose role and scope cover it (docs/governance.md)",
  });
}

function permission(route: string): Permission {
  const perm = (PERMISSIONS as Record<string, Permission | undefined>)[route];
  if (!perm)
    throw new CaveError("INTERNAL", `route ${route} has no entry in the permission table (src/governance/roles.ts)`);
  return perm;
}

/** Whether `rule` lets the key act on `target` (with the target's facts known). */
function inScope(p: Principal, rule: Rule, target: Target): boolean {
  if (rule === false) return false;
  if (rule === "any") return true;
  if (rule === "namespace") {
    if (p.scope.namespace === null) return p.role === "model-access";
    return typeof target.namespace === "string" && target.namespace === p.scope.namespace;
  }
  return typeof target.sandboxId === "string" && p.scope.sandboxes.includes(target.sandboxId);
}

/**
 * Throws FORBIDDEN unless `principal` may call `route` on `target`, AUTH_REQUIRED when a
 * non-public route is called without a key. A sandbox route without a target is refused.
 */
export function authorize(principal: Principal | null, route: RouteName | string, target?: Target): void {
  const perm = permission(route);
  if (perm.public) return;
  if (!principal)
    throw new CaveError("AUTH_REQUIRED", "a valid API key is required", { hint: "send Authorization: Bearer <key>" });
  if (!(ROLES as readonly string[]).includes(principal.role))
    throw forbidden(principal, route, "the key's role is unknown to this version");
  const rule = perm.roles[principal.role];
  if (rule === false) throw forbidden(principal, route, `the ${principal.role} role does not allow it`);
  if (perm.target === "collection" || perm.target === "none" || rule === "any") return;
  if (!target) throw new CaveError("INTERNAL", `authorize(${route}) needs the target sandbox to check a ${rule} scope`);
  if (inScope(principal, rule, target)) return;
  if (perm.target === "new-sandbox")
    throw forbidden(
      principal,
      route,
      `a sandbox in namespace ${JSON.stringify(target.namespace ?? null)} is outside its namespace ${principal.scope.namespace}`,
    );
  throw forbidden(
    principal,
    route,
    rule === "namespace"
      ? `the sandbox is outside its namespace ${principal.scope.namespace}`
      : "the sandbox is not one of the key's sandboxes",
  );
}

/** Whether a collection route (list) shows this sandbox to the key. */
export function visible(principal: Principal, route: RouteName | string, sandbox: Target): boolean {
  const rule = permission(route).roles[principal.role];
  return rule !== undefined && inScope(principal, rule, sandbox);
}

/**
 * The namespace a sandbox created by this key gets: a namespace key's own (asking for another
 * is FORBIDDEN); an admin's what it asks for, else none.
 */
export function namespaceForCreate(principal: Principal, asked?: string | null): string | null {
  if (principal.role === "admin") return asked ?? null;
  const own = principal.scope.namespace;
  if (asked !== undefined && asked !== null && asked !== own)
    throw forbidden(principal, "create", `namespace ${JSON.stringify(asked)} is not its namespace ${own}`);
  authorize(principal, "create", { namespace: own });
  return own;
}

const RULE_TEXT: Record<string, string> = {
  any: "yes",
  namespace: "own namespace",
  sandboxes: "own sandboxes",
  false: "—",
};

/** The matrix as a Markdown table: one row per route, one column per role. */
export function permissionsMarkdown(paths: Partial<Record<string, string>> = {}): string {
  const head = `| Route | ${ROLES.join(" | ")} |`;
  const rule = `|---|${ROLES.map(() => "---").join("|")}|`;
  const rows = Object.entries(PERMISSIONS).map(([name, perm]) => {
    const label = paths[name] ? `\`${name}\` (${paths[name]})` : `\`${name}\``;
    const cells = ROLES.map((r) =>
      perm.public ? "yes (no key needed)" : (RULE_TEXT[String(perm.roles[r])] as string),
    );
    return `| ${label} | ${cells.join(" | ")} |`;
  });
  return [head, rule, ...rows].join("\n");
}
