// The shapes of API-key governance: the /v1/keys bodies and answers (one valibot schema each,
// so the HTTP layer validates with them and openapi.yaml can derive from them), the routes
// the server will add for them, and the long-duration syntax of key lifetimes and rotation
// grace (`30d`, `24h`, `1d12h`), which `cave run`'s durations (at most 7 days) do not cover.
import * as v from "valibot";
import type { Route } from "./api.ts";

export const ROLES = ["admin", "namespace", "session", "model-access"] as const;
export type Role = (typeof ROLES)[number];

const UNIT_MS = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 } as const;
export const LONG_DURATION_PATTERN = /^(?:\d+(?:s|m|h|d|w))+$/;
/** Ten years: past that a lifetime is a typo, not a plan. */
export const MAX_LONG_DURATION_MS = 3650 * UNIT_MS.d;

/**
 * `30d`, `24h`, `90m`, `1d12h`, `0` (zero, where `allowZero`), or a number of seconds.
 * Returns milliseconds, or a string that says what is wrong.
 */
export function parseLongDuration(x: string | number, allowZero = false): number | string {
  const show = JSON.stringify(x);
  let ms: number;
  if (typeof x === "number") {
    if (!Number.isFinite(x) || x < 0) return `invalid duration ${show}: a number of seconds must be 0 or more`;
    ms = Math.round(x * 1000);
  } else if (x === "0") {
    ms = 0;
  } else if (/^\d+$/.test(x)) {
    ms = Number(x) * 1000;
  } else if (LONG_DURATION_PATTERN.test(x)) {
    ms = 0;
    for (const [, n, unit] of x.matchAll(/(\d+)([smhdw])/g)) ms += Number(n) * UNIT_MS[unit as keyof typeof UNIT_MS];
  } else {
    return `invalid duration ${show}: use e.g. 30d, 24h, 90m, 1d12h (s, m, h, d, w) or a number of seconds`;
  }
  if (ms === 0 && !allowZero) return `invalid duration ${show}: must be greater than zero`;
  if (ms > MAX_LONG_DURATION_MS) return `invalid duration ${show}: must be at most 3650d`;
  return ms;
}

/** A namespace or key name: the same alphabet as sandbox names. */
export const NAME_PATTERN = /^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,62}$/;
export const SANDBOX_ID_PATTERN = /^[0-9a-f]{12}$/;

const durationField = (what: string, allowZero: boolean) =>
  v.pipe(
    v.union([v.string(), v.number()]),
    v.rawCheck<string | number>(({ dataset, addIssue }) => {
      if (!dataset.typed) return;
      const r = parseLongDuration(dataset.value, allowZero);
      if (typeof r === "string") addIssue({ message: r });
    }),
    v.description(what),
  );

export const IssueKeySchema = v.strictObject({
  role: v.pipe(
    v.picklist(ROLES, "role must be one of admin, namespace, session, model-access"),
    v.description("What the key may do (docs/governance.md)."),
  ),
  name: v.pipe(
    v.optional(v.pipe(v.string(), v.regex(NAME_PATTERN, "a name is 1–63 letters, digits, '_', '.' or '-'"))),
    v.description("A label for people; need not be unique."),
  ),
  expires: v.optional(durationField("Lifetime from now: 30d, 12h, 1d12h, or seconds. Default: no expiry.", false)),
  namespace: v.pipe(
    v.optional(v.pipe(v.string(), v.regex(NAME_PATTERN, "a namespace is 1–63 letters, digits, '_', '.' or '-'"))),
    v.description("Required for role namespace; optional for model-access (limits its reads to the namespace)."),
  ),
  sandboxes: v.pipe(
    v.optional(
      v.array(v.pipe(v.string(), v.regex(SANDBOX_ID_PATTERN, "a sandbox id is 12 hex digits (cave ls shows them)"))),
    ),
    v.description("Role session: the ids of the sandboxes it may use (at least one)."),
  ),
});

export const RotateKeySchema = v.strictObject({
  grace: v.optional(
    durationField("How long the old key stays valid: 24h, 30m, 0 (default: keys.rotation_grace, else 24h).", true),
  ),
});

export const KEY_STATUSES = ["active", "rotating", "expired", "revoked"] as const;
export type KeyStatus = (typeof KEY_STATUSES)[number];

/** A key as listed: everything but its secret, which is never stored. */
export const KeySchema = v.object({
  id: v.pipe(
    v.string(),
    v.description("12 hex digits; also the second part of the secret (cave_<id>_…), safe to log."),
  ),
  name: v.nullable(v.string()),
  role: v.picklist(ROLES),
  namespace: v.nullable(v.string()),
  sandboxes: v.array(v.string()),
  status: v.pipe(v.picklist(KEY_STATUSES), v.description("rotating: replaced, still valid until expiresAt.")),
  createdAt: v.string(),
  expiresAt: v.nullable(v.string()),
  lastUsedAt: v.pipe(v.nullable(v.string()), v.description("Updated at most once a minute.")),
  revokedAt: v.nullable(v.string()),
  rotatedFrom: v.nullable(v.string()),
  rotatedTo: v.nullable(v.string()),
});

/** The answer to issue and rotate: the key, with its secret shown this once. */
export const IssuedKeySchema = v.object({
  ...KeySchema.entries,
  key: v.pipe(v.string(), v.description("The secret: send it as Authorization: Bearer <key>. Shown once.")),
});

export const RotatedKeySchema = v.object({
  ...IssuedKeySchema.entries,
  previous: v.pipe(KeySchema, v.description("The key replaced: valid until its expiresAt (now + grace).")),
});

export type IssueKeyBody = v.InferOutput<typeof IssueKeySchema>;
export type RotateKeyBody = v.InferOutput<typeof RotateKeySchema>;
export type KeyInfo = v.InferOutput<typeof KeySchema>;
export type IssuedKey = v.InferOutput<typeof IssuedKeySchema>;
export type RotatedKey = v.InferOutput<typeof RotatedKeySchema>;

/** The /v1/keys routes (admin only, see src/governance/roles.ts), to merge into schema/api.ts ROUTES. */
export const KEY_ROUTES = {
  "keys.issue": {
    method: "POST",
    path: "/v1/keys",
    summary: "Issue an API key; the answer's `key` is its secret, shown once.",
    body: IssueKeySchema,
    response: IssuedKeySchema,
    status: 201,
    auth: true,
  },
  "keys.list": {
    method: "GET",
    path: "/v1/keys",
    summary: "List API keys (never their secrets).",
    response: v.array(KeySchema),
    status: 200,
    auth: true,
  },
  "keys.revoke": {
    method: "DELETE",
    path: "/v1/keys/{id}",
    summary: "Revoke a key at once.",
    response: KeySchema,
    status: 200,
    auth: true,
  },
  "keys.rotate": {
    method: "POST",
    path: "/v1/keys/{id}/rotate",
    summary: "Issue its successor; the old key stays valid for the grace period.",
    body: RotateKeySchema,
    response: RotatedKeySchema,
    status: 201,
    auth: true,
  },
} as const satisfies Record<string, Route>;
