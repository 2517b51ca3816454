// The key every token is signed and verified with, kept in <data dir>/auth/ (dir 0700, files
// 0600): an HS256 secret (generated at first start, or given) or an ES256 P-256 key pair whose
// public half is the JWKS. Also the anon and service-role keys, issued once per signing key and
// kept in api-keys.json so `cave db keys` prints the same keys every time (ES256 signatures are
// randomised, so re-signing would not).
import { chmodSync, mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { type CryptoKey, calculateJwkThumbprint, exportJWK, generateKeyPair, importJWK, type JWK, SignJWT } from "jose";
import { CaveError } from "../core/errors.ts";
import type { AuthSettings, JwtAlgorithm } from "./settings.ts";

export const AUTH_DIR = "auth";
export const SECRET_FILE = "jwt-secret";
export const ES256_KEY_FILE = "jwt-es256.jwk.json";
export const API_KEYS_FILE = "api-keys.json";

export interface SigningKey {
  alg: JwtAlgorithm;
  /** The JWK thumbprint of the ES256 key; absent for HS256 (as GoTrue's HS256 tokens). */
  kid?: string;
  signKey: CryptoKey | Uint8Array;
  verifyKey: CryptoKey | Uint8Array;
  /** What /auth/v1/.well-known/jwks.json serves: the public key, or none for a shared secret. */
  jwks: { keys: JWK[] };
}

export interface ApiKeys {
  anon: string;
  service_role: string;
}

function ioError(what: string, path: string, e: unknown): CaveError {
  const code = (e as NodeJS.ErrnoException).code ?? (e as Error).message;
  return new CaveError("AUTH_KEY_FILE", `cannot ${what} ${path}: ${code}`, {
    hint: "check the data directory's owner and permissions (cave keeps its JWT key in <data dir>/auth/, mode 0700)",
    cause: e,
  });
}

function authDir(dataDir: string): string {
  const dir = join(dataDir, AUTH_DIR);
  try {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
  } catch (e) {
    throw ioError("create", dir, e);
  }
  return dir;
}

/**
 * Reads the file, or creates it with `make()`'s text when missing. Exclusive create: two cave
 * processes starting together agree on the first one's key instead of overwriting each other.
 */
async function readOrCreate(path: string, make: () => Promise<string>): Promise<string> {
  try {
    return readFileSync(path, "utf8");
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== "ENOENT") throw ioError("read", path, e);
  }
  const text = await make();
  try {
    writeFileSync(path, text, { mode: 0o600, flag: "wx" });
    return text;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "EEXIST") return readFileSync(path, "utf8");
    throw ioError("write", path, e);
  }
}

function randomSecret(): string {
  return Buffer.from(crypto.getRandomValues(new Uint8Array(32))).toString("base64url");
}

export async function loadSigningKey(dataDir: string, settings: AuthSettings): Promise<SigningKey> {
  if (settings.algorithm === "HS256") {
    let secret = settings.secret?.value;
    if (secret === undefined) {
      const path = join(authDir(dataDir), SECRET_FILE);
      secret = (await readOrCreate(path, async () => `${randomSecret()}\n`)).trim();
      if (secret.length < 32) {
        throw new CaveError(
          "AUTH_KEY_FILE",
          `${path} holds ${secret.length} characters; a JWT secret needs at least 32`,
          {
            hint: "remove the file to have cave generate a new secret (every issued token and key stops working), or put a longer secret in it",
          },
        );
      }
    }
    // The secret's text is the key, as Supabase and PostgREST take theirs: other services can verify with it.
    const key = new TextEncoder().encode(secret);
    return { alg: "HS256", signKey: key, verifyKey: key, jwks: { keys: [] } };
  }
  const path = join(authDir(dataDir), ES256_KEY_FILE);
  const text = await readOrCreate(path, async () => {
    const { privateKey } = await generateKeyPair("ES256", { extractable: true });
    return `${JSON.stringify(await exportJWK(privateKey))}\n`;
  });
  let jwk: JWK;
  try {
    jwk = JSON.parse(text) as JWK;
    if (jwk.kty !== "EC" || jwk.crv !== "P-256" || typeof jwk.d !== "string")
      throw new Error("not a P-256 private key");
  } catch (e) {
    throw new CaveError("AUTH_KEY_FILE", `${path} is not a P-256 private key in JWK form: ${(e as Error).message}`, {
      hint: "remove it to have cave generate a new key (every issued token and key stops working)",
      cause: e,
    });
  }
  const { d: _d, ...pub } = jwk;
  const kid = await calculateJwkThumbprint(pub);
  const publicJwk: JWK = {
    kty: "EC",
    crv: "P-256",
    x: pub.x,
    y: pub.y,
    kid,
    alg: "ES256",
    use: "sig",
    key_ops: ["verify"],
  };
  return {
    alg: "ES256",
    kid,
    signKey: (await importJWK({ ...jwk, alg: "ES256" }, "ES256")) as CryptoKey,
    verifyKey: (await importJWK({ ...pub, alg: "ES256" }, "ES256")) as CryptoKey,
    jwks: { keys: [publicJwk] },
  };
}

/** A signed JWT with GoTrue's header: alg, typ, and kid for a key published in the JWKS. */
export function sign(key: SigningKey, claims: Record<string, unknown>): Promise<string> {
  return new SignJWT(claims)
    .setProtectedHeader({ alg: key.alg, typ: "JWT", ...(key.kid ? { kid: key.kid } : {}) })
    .sign(key.signKey);
}

/** The anon and service-role keys: { role, iss: "cave", iat, exp } a hundred years on. */
async function issueApiKeys(key: SigningKey): Promise<ApiKeys> {
  const iat = Math.floor(Date.now() / 1000);
  const exp = iat + 100 * 365 * 24 * 3600;
  return {
    anon: await sign(key, { role: "anon", iss: "cave", iat, exp }),
    service_role: await sign(key, { role: "service_role", iss: "cave", iat, exp }),
  };
}

/**
 * The keys kept in the data directory when they still verify under the current key (and carry
 * their roles), else new ones written over them: a changed secret changes the keys.
 */
export async function loadApiKeys(
  dataDir: string,
  key: SigningKey,
  verifies: (token: string, role: string) => Promise<boolean>,
): Promise<ApiKeys> {
  const dir = authDir(dataDir);
  const path = join(dir, API_KEYS_FILE);
  try {
    const kept = JSON.parse(readFileSync(path, "utf8")) as Partial<ApiKeys>;
    if (
      typeof kept.anon === "string" &&
      typeof kept.service_role === "string" &&
      (await verifies(kept.anon, "anon")) &&
      (await verifies(kept.service_role, "service_role"))
    ) {
      return { anon: kept.anon, service_role: kept.service_role };
    }
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code !== undefined && code !== "ENOENT") throw ioError("read", path, e);
    // ENOENT, or not JSON: issue new keys below.
  }
  const keys = await issueApiKeys(key);
  // Written aside and renamed: a reader never sees half a file.
  const tmp = `${path}.${process.pid}.tmp`;
  try {
    writeFileSync(tmp, `${JSON.stringify(keys, null, 2)}\n`, { mode: 0o600 });
    chmodSync(tmp, 0o600);
    renameSync(tmp, path);
  } catch (e) {
    throw ioError("write", path, e);
  }
  return keys;
}
