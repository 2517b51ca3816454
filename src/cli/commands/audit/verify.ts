// `cave audit verify [FILE|DIR…] [--pubkey PEM] [--head FILE] [--json]`: checks signatures,
// the hash chain and the signed head; exit 0 when intact, 1 with the findings.
import { readFileSync } from "node:fs";
import { defineCommand } from "citty";
import { auditArgs, auditDirOf } from "./_shared.ts";

export default defineCommand({
  meta: {
    name: "verify",
    description: "Verify audit log files or directories (default: the data directory's log); exit 1 on any finding.",
  },
  args: {
    ...auditArgs,
    files: { type: "positional", required: false, description: "audit-*.jsonl files or audit directories, in order." },
    pubkey: {
      type: "string",
      description:
        "The public key to trust (PEM or raw base64 from `cave audit pubkey`); default: the one beside the log.",
    },
    head: {
      type: "string",
      description: "A signed head (head.json) to check the tail against; a directory's own by default.",
    },
    json: { type: "boolean", description: "Print the whole report as JSON." },
  },
  async run({ args }) {
    const { verifyAudit, parsePublicKey } = await import("../../../audit/index.ts");
    const { CaveError } = await import("../../../core/errors.ts");
    const paths = args._.length > 0 ? args._.map(String) : [await auditDirOf(args)];
    let publicKey: { key: import("node:crypto").KeyObject; source: string } | undefined;
    if (args.pubkey) {
      let text: string;
      try {
        text = readFileSync(args.pubkey, "utf8");
      } catch (e) {
        throw new CaveError("USAGE", `cannot read --pubkey ${args.pubkey}: ${(e as NodeJS.ErrnoException).code}`, {
          hint: "save the key first: cave audit pubkey > audit.pub",
          cause: e,
        });
      }
      publicKey = { key: parsePublicKey(text, args.pubkey), source: args.pubkey };
    }
    const report = verifyAudit({
      paths,
      ...(publicKey ? { publicKey } : {}),
      ...(args.head ? { headPath: args.head } : {}),
    });
    if (args.json) console.log(JSON.stringify(report));
    else {
      const span = report.firstSeq === null ? "no lines" : `seq ${report.firstSeq}–${report.lastSeq}`;
      const head = report.head ? `, head seq ${report.head.seq}` : "";
      const summary = `${report.lines} lines (${span}) in ${report.files.length} file(s)${head}, key ${report.key.fingerprint}`;
      const out: string[] = [];
      if (report.ok) out.push(`ok: ${summary}`);
      else {
        out.push(`TAMPERED: ${report.findings.length} finding(s) in ${summary}`);
        for (const f of report.findings) {
          out.push(`${f.file}${f.line !== null ? `:${f.line}` : ""}: ${f.kind}: ${f.message}`);
          out.push(`  expected: ${f.expected}`, `  found:    ${f.found}`);
        }
      }
      for (const n of report.notes) out.push(`note: ${n}`);
      console.log(out.join("\n"));
    }
    if (!report.ok) process.exitCode = 1;
  },
});
