// The audit log's Ed25519 key pair: generated at the first open in <data dir>/audit/, the
// private key readable by its owner only. Auditors verify with a copy of the public key they
// keep themselves (cave audit pubkey), so a rewritten data directory cannot vouch for itself.
import { createPrivateKey, createPublicKey, generateKeyPairSync, type KeyObject } from "node:crypto";
import { closeSync, existsSync, fsyncSync, linkSync, openSync, readFileSync, unlinkSync, writeSync } from "node:fs";
import { join } from "node:path";
import { CaveError } from "../core/errors.ts";

export const PRIVATE_KEY_FILE = "signing-key.pem";
export const PUBLIC_KEY_FILE = "signing-key.pub.pem";

export interface AuditKeys {
  privateKey: KeyObject;
  publicKey: KeyObject;
}

/** Loads the key pair of an audit directory, creating it when there is none. Call under the log's lock. */
export function loadOrCreateKeys(dir: string): AuditKeys {
  const keyPath = join(dir, PRIVATE_KEY_FILE);
  if (!existsSync(keyPath)) {
    if (existsSync(join(dir, PUBLIC_KEY_FILE))) {
      // A new key would sign lines no copy of the old public key verifies: refuse, loudly.
      throw new CaveError("AUDIT_KEY", `the audit signing key ${keyPath} is missing (its public key is there)`, {
        hint: "restore it from a backup, or move the audit directory aside to start a new log with a new key",
      });
    }
    const { privateKey, publicKey } = generateKeyPairSync("ed25519");
    // Public first: a private key without its public half is never left behind.
    writeNew(join(dir, PUBLIC_KEY_FILE), publicKey.export({ type: "spki", format: "pem" }) as string);
    writeNew(keyPath, privateKey.export({ type: "pkcs8", format: "pem" }) as string);
  }
  let privateKey: KeyObject;
  try {
    privateKey = createPrivateKey(readFileSync(keyPath));
  } catch (e) {
    throw new CaveError("AUDIT_KEY", `cannot read the audit signing key ${keyPath}: ${(e as Error).message}`, {
      hint: "restore it from a backup; a new key would start a log no old public key verifies",
      cause: e,
    });
  }
  if (privateKey.asymmetricKeyType !== "ed25519") {
    throw new CaveError("AUDIT_KEY", `${keyPath} is not an Ed25519 private key`, { hint: "restore the original key" });
  }
  return { privateKey, publicKey: createPublicKey(privateKey) };
}

/** A public key from PEM (SPKI) or raw base64 (32 bytes); throws USAGE when it is neither. */
export function parsePublicKey(text: string, source: string): KeyObject {
  const trimmed = text.trim();
  try {
    if (trimmed.startsWith("-----BEGIN")) {
      const k = createPublicKey(trimmed);
      if (k.asymmetricKeyType === "ed25519") return k;
    } else {
      const raw = Buffer.from(trimmed, "base64");
      if (raw.length === 32)
        return createPublicKey({ key: { kty: "OKP", crv: "Ed25519", x: raw.toString("base64url") }, format: "jwk" });
    }
  } catch (e) {
    throw new CaveError("USAGE", `${source} is not an Ed25519 public key: ${(e as Error).message}`, {
      hint: "give the PEM printed by `cave audit pubkey` (or its --raw base64)",
      cause: e,
    });
  }
  throw new CaveError("USAGE", `${source} is not an Ed25519 public key`, {
    hint: "give the PEM printed by `cave audit pubkey` (or its --raw base64)",
  });
}

export function publicKeyPem(k: KeyObject): string {
  return k.export({ type: "spki", format: "pem" }) as string;
}

/** The 32 raw bytes of an Ed25519 public key, base64. */
export function publicKeyRaw(k: KeyObject): string {
  return (k.export({ type: "spki", format: "der" }) as Buffer).subarray(12).toString("base64");
}

/** Writes a file that must not exist yet, durably, mode 0600 (tmp + fsync + link: never half there). */
function writeNew(path: string, text: string): void {
  const tmp = `${path}.${process.pid}.tmp`;
  const fd = openSync(tmp, "w", 0o600);
  try {
    writeSync(fd, text);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  try {
    linkSync(tmp, path);
  } finally {
    unlinkSync(tmp);
  }
}
