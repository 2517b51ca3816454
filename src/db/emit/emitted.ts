// The emitter's output: SQLite SQL text with ?N placeholders and what to bind to each.
import type { StoreValue } from "../store/types.ts";

/** auth.uid(), auth.role(), auth.jwt(): the request's values, bound per execution. */
export type AuthFn = "uid" | "role" | "jwt";

export type Slot =
  | { kind: "const"; value: StoreValue }
  | { kind: "param"; index: number; type: string }
  | { kind: "auth"; fn: AuthFn };

export interface EmittedSql {
  sql: string;
  slots: Slot[];
}

export class SqlWriter {
  readonly slots: Slot[] = [];
  private readonly userSlots = new Map<number, number>();
  private readonly authSlots = new Map<AuthFn, number>();

  /** Literals written into the text (DDL) instead of bound. */
  constructor(readonly inline: boolean) {}

  bindConst(value: StoreValue): string {
    this.slots.push({ kind: "const", value });
    return `?${this.slots.length}`;
  }

  bindParam(index: number, type: string): string {
    const existing = this.userSlots.get(index);
    if (existing !== undefined) return `?${existing}`;
    this.slots.push({ kind: "param", index, type });
    this.userSlots.set(index, this.slots.length);
    return `?${this.slots.length}`;
  }

  bindAuth(fn: AuthFn): string {
    const existing = this.authSlots.get(fn);
    if (existing !== undefined) return `?${existing}`;
    this.slots.push({ kind: "auth", fn });
    this.authSlots.set(fn, this.slots.length);
    return `?${this.slots.length}`;
  }
}
