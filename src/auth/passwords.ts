// Passwords and email addresses: Argon2id hashes (Bun.password, OWASP's parameters), the
// password policy, and the one normalisation of an email address every path applies.
import { AuthApiError } from "./errors.ts";

/**
 * OWASP's Argon2id minimum (19 MiB, 2 passes, 1 lane): ~35 ms a hash on the project's machine,
 * against ~140 ms for Bun's default 64 MiB. Stored hashes carry their parameters, so raising
 * these later keeps old hashes verifiable.
 */
const ARGON2 = { algorithm: "argon2id", memoryCost: 19456, timeCost: 2 } as const;

/** Longer passwords are refused before hashing: hashing megabytes is a cheap denial of service. */
export const MAX_PASSWORD_LENGTH = 1024;
export const MAX_EMAIL_LENGTH = 255;

export function hashPassword(password: string): Promise<string> {
  return Bun.password.hash(password, ARGON2);
}

export function verifyPassword(password: string, hash: string): Promise<boolean> {
  return Bun.password.verify(password, hash, "argon2id");
}

/**
 * A hash of a random password with the same parameters: a login for an unknown email verifies
 * against it, so it costs what a wrong password costs and timing tells nothing.
 */
export function dummyHash(): Promise<string> {
  return hashPassword(crypto.randomUUID());
}

/** Supabase Auth's 422 weak_password, with the reasons array auth-js passes on. */
export function checkPassword(password: string, minLength: number): void {
  if ([...password].length < minLength) {
    throw new AuthApiError(422, "weak_password", `Password should be at least ${minLength} characters.`, {
      weak_password: { reasons: ["length"] },
    });
  }
  if (password.length > MAX_PASSWORD_LENGTH) {
    throw new AuthApiError(422, "weak_password", `Password should be at most ${MAX_PASSWORD_LENGTH} characters.`, {
      weak_password: { reasons: ["length"] },
    });
  }
}

// local@domain: no spaces or control characters, one @, a domain of dot-separated labels with
// at least one dot (as GoTrue's checkmail format check).
const EMAIL = /^[^\s@\p{Cc}]{1,64}@(?:[\p{L}\p{N}](?:[\p{L}\p{N}-]{0,61}[\p{L}\p{N}])?\.)+[\p{L}\p{N}]{2,63}$/u;

/** Trimmed and lower-cased, so "A@x.io " and "a@x.io" are one user; null when not an address. */
export function normalizeEmail(email: string): string | null {
  const e = email.trim().toLowerCase();
  return e.length <= MAX_EMAIL_LENGTH && EMAIL.test(e) ? e : null;
}

export function requireEmail(email: string): string {
  const e = normalizeEmail(email);
  if (e === null) {
    throw new AuthApiError(
      400,
      "validation_failed",
      "Unable to validate email address: invalid format (give an address like name@example.com)",
    );
  }
  return e;
}
