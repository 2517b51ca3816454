// /auth/v1 over HTTP: Supabase Auth's (GoTrue's) routes, bodies and answers, for a Bun.serve
// `fetch` to try first. Every route but the JWKS needs an apikey (the anon or service-role key),
// as Supabase's gateway demands. Auth errors become GoTrue's error JSON here and nowhere else;
// anything unexpected is a 500 without details (the cause goes to the server's log).
import * as v from "valibot";
import { RateLimiter } from "../governance/ratelimit.ts";
import { bearerToken, credentialsOf } from "./credentials.ts";
import { AuthApiError, errorResponse, isAuthApiError, isAuthError } from "./errors.ts";
import { LOGOUT_SCOPES, PasswordGrantBody, RefreshGrantBody, SignupBody, UserUpdateBody } from "./schemas.ts";
import type { AuthService, LogoutScope } from "./service.ts";
import { AUTH_RATE_WINDOW_MS } from "./settings.ts";

export const AUTH_PREFIX = "/auth/v1";
const MAX_BODY = 64 * 1024;

async function body<S extends v.GenericSchema>(req: Request, schema: S): Promise<v.InferOutput<S>> {
  const text = await req.text();
  if (text.length > MAX_BODY) {
    throw new AuthApiError(413, "request_too_large", `Request body is larger than ${MAX_BODY} bytes`);
  }
  let data: unknown;
  try {
    data = text === "" ? {} : JSON.parse(text);
  } catch (e) {
    throw new AuthApiError(400, "bad_json", `Could not parse request body as JSON: ${(e as Error).message}`);
  }
  const r = v.safeParse(schema, data);
  if (!r.success) {
    const issue = r.issues[0];
    const path = issue.path?.map((p) => String(p.key)).join(".");
    const what = path && !issue.message.startsWith(path) ? `${path}: ${issue.message}` : issue.message;
    throw new AuthApiError(400, "validation_failed", `Invalid request body: ${what}`);
  }
  return r.output;
}

function phoneUnsupported(phone: string | null | undefined, email: string | undefined): void {
  if (email === undefined && phone) {
    throw new AuthApiError(
      400,
      "phone_provider_disabled",
      "Phone logins are disabled: cave's auth supports email and password",
    );
  }
  if (email === undefined) {
    throw new AuthApiError(400, "validation_failed", "An email address and a password are required");
  }
}

const notFound = () => new AuthApiError(404, "not_found", "No such auth endpoint");
const methodNotAllowed = (allowed: string) =>
  new AuthApiError(405, "method_not_allowed", `Use ${allowed} on this endpoint`);

type Handler = (req: Request, url: URL) => Promise<Response>;

function route(service: AuthService, path: string): Record<string, Handler> | null {
  switch (path) {
    case "/signup":
      return {
        POST: async (req) => {
          const b = await body(req, SignupBody);
          phoneUnsupported(b.phone, b.email);
          return Response.json(
            await service.signUp({
              email: b.email as string,
              password: b.password,
              ...(b.data ? { data: b.data } : {}),
            }),
          );
        },
      };
    case "/token":
      return {
        POST: async (req, url) => {
          const grant = url.searchParams.get("grant_type");
          if (grant === "password") {
            const b = await body(req, PasswordGrantBody);
            phoneUnsupported(b.phone, b.email);
            return Response.json(await service.signInWithPassword({ email: b.email as string, password: b.password }));
          }
          if (grant === "refresh_token") {
            const b = await body(req, RefreshGrantBody);
            return Response.json(await service.refresh(b.refresh_token));
          }
          throw new AuthApiError(
            400,
            "validation_failed",
            `unsupported_grant_type: ${grant === null ? "no grant_type" : JSON.stringify(grant)}; use ?grant_type=password or ?grant_type=refresh_token`,
          );
        },
      };
    case "/logout":
      return {
        POST: async (req, url) => {
          const scope = url.searchParams.get("scope") ?? "global";
          if (!(LOGOUT_SCOPES as readonly string[]).includes(scope)) {
            throw new AuthApiError(
              400,
              "validation_failed",
              `Unsupported logout scope ${JSON.stringify(scope)}: use global, local or others`,
            );
          }
          await service.logout(bearerToken(req.headers.get("authorization")), scope as LogoutScope);
          return new Response(null, { status: 204 });
        },
      };
    case "/user":
      return {
        GET: async (req) => Response.json(await service.getUser(bearerToken(req.headers.get("authorization")))),
        PUT: async (req) => {
          const b = await body(req, UserUpdateBody);
          return Response.json(
            await service.updateUser(bearerToken(req.headers.get("authorization")), {
              ...(b.email !== undefined ? { email: b.email } : {}),
              ...(b.password !== undefined ? { password: b.password } : {}),
              ...(b.data !== undefined ? { data: b.data } : {}),
            }),
          );
        },
      };
    case "/settings":
      return { GET: async () => Response.json(service.publicSettings()) };
    case "/health":
      return {
        GET: async () =>
          Response.json({ version: "cave", name: "GoTrue", description: "cave's Supabase Auth compatible service" }),
      };
    case "/.well-known/jwks.json":
      return { GET: async () => Response.json(service.jwks) };
    default:
      return null;
  }
}

/** Paths answered without an apikey: the public keys, which Supabase's gateway serves openly too. */
const OPEN = new Set(["/.well-known/jwks.json"]);

export interface AuthHandlerOptions {
  /**
   * The client's address (Bun's server.requestIP), for the sign-in and refresh limits; absent,
   * those are not limited (a handler mounted where the caller cannot be told apart).
   */
  clientAddress?: (req: Request) => string | null;
  /** A monotonic clock for the limits (tests). */
  now?: () => number;
}

/**
 * Password guessing costs the guesser a request and the server an Argon2id verify (~36 ms):
 * sign-ups and password logins are limited per client address (auth.rate_limit_sign_in per
 * 5 minutes), refresh grants likewise (auth.rate_limit_token_refresh), as Supabase Auth does.
 * Past the limit: 429 over_request_rate_limit with Retry-After, before any password is checked.
 */
function limitFor(limiter: RateLimiter, service: AuthService, path: string, url: URL, address: string | null): void {
  if (address === null) return;
  const grant = url.searchParams.get("grant_type");
  const kind =
    path === "/signup" || (path === "/token" && grant === "password")
      ? { policy: "sign_in", limit: service.settings.rateLimitSignIn }
      : path === "/token" && grant === "refresh_token"
        ? { policy: "token_refresh", limit: service.settings.rateLimitTokenRefresh }
        : null;
  if (!kind) return;
  const d = limiter.takeKey(`${kind.policy}:${address}`, kind.limit, kind.policy);
  if (!d.allowed) {
    throw new AuthApiError(429, "over_request_rate_limit", "Request rate limit reached", {}, d.headers);
  }
}

/** The /auth/v1 handler: a Response for paths under it, null for any other path. */
export function createAuthHandler(
  service: AuthService,
  opts: AuthHandlerOptions = {},
): (req: Request) => Promise<Response | null> {
  const limiter = new RateLimiter({ windowMs: AUTH_RATE_WINDOW_MS, ...(opts.now ? { now: opts.now } : {}) });
  return async (req) => {
    const url = new URL(req.url);
    if (url.pathname !== AUTH_PREFIX && !url.pathname.startsWith(`${AUTH_PREFIX}/`)) return null;
    const path = url.pathname.slice(AUTH_PREFIX.length).replace(/\/+$/, "") || "/";
    try {
      if (!OPEN.has(path)) {
        const creds = credentialsOf(req, url);
        // The gateway's check: an apikey header that is this server's anon or service-role key.
        await service.authenticate({ apikey: creds.apikey, authorization: null });
      }
      if (req.method === "POST") limitFor(limiter, service, path, url, opts.clientAddress?.(req) ?? null);
      const handlers = route(service, path);
      if (!handlers) throw notFound();
      const method = req.method === "HEAD" ? "GET" : req.method;
      const handler = handlers[method];
      if (!handler) throw methodNotAllowed(Object.keys(handlers).join(" or "));
      return await handler(req, url);
    } catch (e) {
      if (isAuthError(e) || isAuthApiError(e)) return errorResponse(e);
      console.error("cave auth: internal error:", e);
      return Response.json(
        { code: 500, error_code: "unexpected_failure", msg: "Unexpected failure, the server log has the details" },
        { status: 500 },
      );
    }
  };
}
