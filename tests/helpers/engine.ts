// Runs a describe block once per real store kind (temp libSQL file, :memory:) with a fresh
// Engine per test, and helpers to assert failures by SQLSTATE.
import { afterEach, beforeEach, describe } from "bun:test";
import { Engine } from "../../src/db/engine.ts";
import { DbError } from "../../src/db/errors.ts";
import { tempStore } from "./store.ts";

export interface EngineFixture {
  engine: Engine;
}

export function describeOnEveryStore(name: string, body: (fx: EngineFixture) => void): void {
  for (const kind of ["file", "memory", "remote"] as const) {
    const label = { file: "temp libSQL file", memory: ":memory:", remote: "remote transport" }[kind];
    describe(`${name} (${label})`, () => {
      const fx = {} as EngineFixture;
      let dispose = () => {};
      beforeEach(async () => {
        const t = tempStore(kind);
        dispose = t.dispose;
        fx.engine = await Engine.open(t.store);
      });
      afterEach(() => {
        fx.engine.close();
        dispose();
      });
      body(fx);
    });
  }
}

/** The DbError a statement fails with; throws if it succeeds or fails otherwise. */
export async function failure(p: Promise<unknown>): Promise<DbError> {
  try {
    await p;
  } catch (e) {
    if (e instanceof DbError) return e;
    throw e;
  }
  throw new Error("expected the statement to fail");
}

/** sqlstate, message and position of a failure, for one exact assertion. */
export async function failureOf(p: Promise<unknown>): Promise<[string, string, number]> {
  const e = await failure(p);
  return [e.sqlstate, e.message, e.position];
}

/** Runs statements in order (setup). */
export async function run(engine: Engine, ...sql: string[]): Promise<void> {
  for (const s of sql) await engine.query(s);
}
