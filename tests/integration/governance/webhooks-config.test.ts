// cave.yaml's `webhooks:` section through the real config loader: what it accepts, and the
// line, column and fix of each mistake.
import { describe, expect, test } from "bun:test";
import { parseConfigText } from "../../../src/core/config.ts";
import { isCaveError } from "../../../src/core/errors.ts";

function refusal(text: string): string {
  try {
    parseConfigText(text, "cave.yaml");
  } catch (e) {
    if (isCaveError(e)) return e.message;
    throw e;
  }
  throw new Error("accepted");
}

describe("cave.yaml webhooks", () => {
  test("a list of url, secret and optional events is accepted as written", () => {
    const text =
      "webhooks:\n  - url: https://hooks.example.com/cave\n    secret: 0123456789abcdef\n    events: [key.revoked, key.expiring]\n  - url: http://127.0.0.1:9000/h\n    secret: fedcba9876543210\n";
    expect(parseConfigText(text, "cave.yaml").webhooks).toEqual([
      { url: "https://hooks.example.com/cave", secret: "0123456789abcdef", events: ["key.revoked", "key.expiring"] },
      { url: "http://127.0.0.1:9000/h", secret: "fedcba9876543210" },
    ]);
  });

  test("each mistake is refused at its line and column with what to do", () => {
    expect(refusal("webhooks:\n  - url: ftp://x\n    secret: 0123456789abcdef\n")).toBe(
      "cave.yaml:2:10: webhooks[0].url: must be an http:// or https:// URL",
    );
    expect(refusal("webhooks:\n  - url: https://x/h\n    secret: short\n")).toBe(
      "cave.yaml:3:13: webhooks[0].secret: must be at least 16 characters; make one with: openssl rand -hex 32",
    );
    expect(refusal("webhooks:\n  - url: https://x/h\n    secret: 0123456789abcdef\n    events: [key.deleted]\n")).toBe(
      'cave.yaml:4:14: webhooks[0].events[0]: invalid event "key.deleted": use key.issued, key.rotated, key.revoked, key.expiring',
    );
    expect(refusal("webhooks:\n  - url: https://x/h\n")).toBe(
      'cave.yaml:2:5: webhooks[0]: missing key "secret" (required: url, secret)',
    );
    expect(refusal("webhooks: {url: x}\n")).toBe(
      "cave.yaml:1:11: webhooks: must be a list of mappings with url and secret, not a mapping",
    );
  });
});
