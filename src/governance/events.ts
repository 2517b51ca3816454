// Key operations as the other governance parts tell them: the webhook payload of a KeyEvent
// (src/governance/keys.ts) and its audit line. Shared by `cave serve` and the `cave keys` verbs
// so a key issued either way is told and recorded the same. Never a secret: KeyEvent has none.
import type { AuditEvent } from "../audit/index.ts";
import type { KeyEvent } from "./keys.ts";
import type { WebhookEventType, Webhooks } from "./webhooks.ts";

/** The webhook event type and `data` of a key operation. */
export function keyEventPayload(e: KeyEvent): [WebhookEventType, Record<string, unknown>] {
  switch (e.type) {
    case "key.issued":
      return ["key.issued", { key_id: e.key.id, role: e.key.role, name: e.key.name, expires_at: e.key.expiresAt }];
    case "key.rotated":
      return ["key.rotated", { key_id: e.previous.id, successor: e.key.id, grace_until: e.previous.expiresAt }];
    case "key.revoked":
      return ["key.revoked", { key_id: e.key.id }];
  }
}

/** Tells the webhooks of a key operation (returns at once; delivery is in the background). */
export function notifyKeyEvent(webhooks: Webhooks, e: KeyEvent): void {
  const [type, data] = keyEventPayload(e);
  webhooks.notify(type, data);
}

/** The audit line of a key operation made outside a request (the `cave keys` verbs). */
export function keyEventAudit(e: KeyEvent, actor: string): AuditEvent {
  const [, data] = keyEventPayload(e);
  const action = e.type === "key.issued" ? "key.issue" : e.type === "key.rotated" ? "key.rotate" : "key.revoke";
  const target = e.type === "key.rotated" ? e.previous.id : e.key.id;
  const { key_id: _id, ...details } = data;
  return { actor, action, target, outcome: "success", requestId: null, details };
}
