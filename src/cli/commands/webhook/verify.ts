// `cave webhook verify --secret S [--tolerance 300] HEADER < body`: checks one delivery's
// X-Cave-Signature against the raw body on stdin. Exit 0: valid. Exit 1: refused, with the
// reason (bad signature, timestamp outside the tolerance: a replay, malformed header).
// Exit 2: usage. A thin adapter over verifySignature in src/governance/webhooks.ts.
import { readFileSync } from "node:fs";
import { defineCommand } from "citty";
import { CaveError } from "../../../core/errors.ts";
import { writeStderr } from "../../../core/log.ts";
import { DEFAULT_TOLERANCE_S, verifySignature } from "../../../governance/webhooks.ts";

function wholeSeconds(raw: string, flag: string): number {
  if (!/^\d+$/.test(raw.trim()))
    throw new CaveError("USAGE", `${flag} must be a whole number of seconds, not ${JSON.stringify(raw)}`);
  return Number(raw);
}

function secretOf(args: { secret?: string; "secret-file"?: string }): string {
  if (args.secret && args["secret-file"]) throw new CaveError("USAGE", "give --secret or --secret-file, not both");
  if (args["secret-file"]) {
    try {
      return readFileSync(args["secret-file"], "utf8").replace(/\r?\n$/, "");
    } catch (e) {
      throw new CaveError("USAGE", `cannot read --secret-file ${args["secret-file"]}: ${(e as Error).message}`);
    }
  }
  const s = args.secret || process.env.CAVE_WEBHOOK_SECRET;
  if (!s) {
    throw new CaveError("USAGE", "no secret given", {
      hint: "pass --secret S, --secret-file FILE or CAVE_WEBHOOK_SECRET (the secret of this URL in cave.yaml webhooks)",
    });
  }
  return s;
}

export default defineCommand({
  meta: {
    name: "verify",
    description: "Check a webhook delivery: cave webhook verify --secret S 't=…,v1=…' < body. Exit 0 valid, 1 refused.",
  },
  args: {
    signature: {
      type: "positional",
      required: true,
      description: "The X-Cave-Signature header's value (t=…,v1=…), or the whole header line.",
    },
    secret: {
      type: "string",
      description: "The URL's secret (visible in ps: prefer --secret-file or CAVE_WEBHOOK_SECRET).",
    },
    "secret-file": { type: "string", description: "A file holding the secret (one trailing newline is ignored)." },
    tolerance: {
      type: "string",
      description: `Seconds the timestamp may be off the clock, either way (default ${DEFAULT_TOLERANCE_S}).`,
    },
    now: { type: "string", description: "The time to check against, in Unix seconds (default: the clock)." },
    json: { type: "boolean", description: "Print one JSON line: valid, reason, message, timestamp." },
  },
  async run({ args }) {
    const secret = secretOf(args);
    const tolerance = args.tolerance === undefined ? DEFAULT_TOLERANCE_S : wholeSeconds(args.tolerance, "--tolerance");
    const now = args.now === undefined ? Math.floor(Date.now() / 1000) : wholeSeconds(args.now, "--now");
    // The raw bytes: the signature covers them exactly, so nothing may decode or trim them.
    const body = new Uint8Array(await Bun.stdin.arrayBuffer());
    const r = verifySignature(secret, args.signature, body, now, tolerance);
    if (args.json) {
      console.log(
        JSON.stringify(
          r.ok
            ? { valid: true, timestamp: r.timestamp }
            : {
                valid: false,
                reason: r.reason,
                message: r.message,
                ...(r.timestamp !== undefined ? { timestamp: r.timestamp } : {}),
              },
        ),
      );
    } else if (r.ok) {
      console.log(`valid: signed at ${new Date(r.timestamp * 1000).toISOString()}`);
    } else {
      writeStderr(`cave: signature refused (${r.reason}): ${r.message}\n`);
    }
    // Not a CaveError: an invalid signature is this command's answer, not its failure.
    if (!r.ok) process.exit(1);
  },
});
