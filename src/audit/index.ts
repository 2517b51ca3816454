// The signed audit log: what other modules import (cave serve appends through AuditLog;
// the CLI verifies and reads). docs/governance.md describes the format.
export {
  ACTION_PATTERN,
  AUDIT_ACTIONS,
  type AuditEvent,
  type AuditRecord,
  GENESIS,
  OUTCOMES,
  type Outcome,
} from "./format.ts";
export { PRIVATE_KEY_FILE, PUBLIC_KEY_FILE, parsePublicKey, publicKeyPem, publicKeyRaw } from "./keys.ts";
export { AuditLog, type AuditLogOptions, auditDir, DEFAULT_ROTATE_BYTES, MAX_LINE_BYTES } from "./log.ts";
export { type Finding, type FindingKind, keyFingerprint, type VerifyReport, verifyAudit } from "./verify.ts";
