// `cave audit pubkey [--raw]`: the audit log's public key, for auditors to keep their own copy
// (cave audit verify --pubkey). Creates the key pair when the log has none yet.
import { defineCommand } from "citty";
import { auditArgs, dataDirOf } from "./_shared.ts";

export default defineCommand({
  meta: { name: "pubkey", description: "Print the audit log's Ed25519 public key (PEM, or raw base64 with --raw)." },
  args: {
    ...auditArgs,
    raw: { type: "boolean", description: "Print the 32-byte key as base64 instead of PEM." },
  },
  async run({ args }) {
    const { AuditLog, publicKeyRaw } = await import("../../../audit/index.ts");
    const log = AuditLog.open({ dataDir: await dataDirOf(args) });
    process.stdout.write(args.raw ? `${publicKeyRaw(log.publicKey)}\n` : log.publicKeyPem());
  },
});
