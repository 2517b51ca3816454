// The JSON bodies of /auth/v1, one valibot schema each, as @supabase/auth-js sends them. Fields
// the client adds that cave does not use (gotrue_meta_security, code_challenge…) are allowed
// and dropped, as GoTrue ignores what it does not know.
import * as v from "valibot";

const metadata = v.pipe(
  v.record(v.string(), v.unknown(), "must be a JSON object"),
  v.check((x) => !Array.isArray(x), "must be a JSON object, not an array"),
  v.check((x) => JSON.stringify(x).length <= 16 * 1024, "must be at most 16 KiB of JSON"),
);

const text = (what: string) => v.string(`${what} must be a string`);

export const SignupBody = v.object({
  email: v.optional(text("email")),
  phone: v.optional(v.nullable(text("phone"))),
  password: text("password"),
  data: v.optional(v.nullable(metadata)),
});

export const PasswordGrantBody = v.object({
  email: v.optional(text("email")),
  phone: v.optional(v.nullable(text("phone"))),
  password: text("password"),
});

export const RefreshGrantBody = v.object({
  refresh_token: v.pipe(text("refresh_token"), v.nonEmpty("refresh_token must not be empty")),
});

export const UserUpdateBody = v.object({
  email: v.optional(text("email")),
  password: v.optional(text("password")),
  data: v.optional(metadata),
  phone: v.optional(v.nullable(text("phone"))),
  nonce: v.optional(v.nullable(text("nonce"))),
});

export const LOGOUT_SCOPES = ["global", "local", "others"] as const;
