// Runs emitted statements on the store: binds slots (constants and the user's parameters,
// coerced to their inferred types), converts result rows by column type.

import type { EmittedSql } from "../emit/emitted.ts";
import { DbError } from "../errors.ts";
import { coerceParam } from "../plan/coerce.ts";
import type { Store, StoreResult, StoreValue } from "../store/types.ts";
import { toDbError } from "./errors.ts";

/** The values of auth.uid(), auth.role(), auth.jwt() for one request (all NULL for the owner). */
export interface AuthValues {
  uid: StoreValue;
  role: StoreValue;
  jwt: StoreValue;
}

export const OWNER_AUTH: AuthValues = { uid: null, role: null, jwt: null };

export function bindValues(
  emitted: EmittedSql,
  params: readonly unknown[],
  auth: AuthValues = OWNER_AUTH,
): StoreValue[] {
  return emitted.slots.map((s) =>
    s.kind === "const" ? s.value : s.kind === "auth" ? auth[s.fn] : coerceParam(params[s.index - 1], s.type, s.index),
  );
}

/** The number of parameters a statement needs: the highest $n it references. */
export function requiredParams(emitted: EmittedSql[]): number {
  let n = 0;
  for (const e of emitted) for (const s of e.slots) if (s.kind === "param" && s.index > n) n = s.index;
  return n;
}

export function checkParamCount(required: number, given: number, positions: readonly number[] = []): void {
  if (given === 0 && required > 0) {
    // No parameters at all (a plain query): Postgres rejects the first placeholder itself.
    const first = positions.findIndex((p) => p !== undefined);
    const index = first >= 0 ? first + 1 : required;
    throw new DbError("42P02", `there is no parameter $${index}`, { position: positions[index - 1] ?? 0 });
  }
  if (required !== given)
    throw new DbError(
      "08P01",
      `bind message supplies ${given} parameters, but prepared statement "" requires ${required}`,
    );
}

export async function run(
  store: Store,
  emitted: EmittedSql,
  params: readonly unknown[],
  auth: AuthValues = OWNER_AUTH,
): Promise<StoreResult> {
  const values = bindValues(emitted, params, auth);
  try {
    return await store.execute(emitted.sql, values);
  } catch (e) {
    throw toDbError(e);
  }
}
