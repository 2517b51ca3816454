// The compiled cave starts with JavaScriptCore's tier-up thresholds scaled up 100× (compile.jitPolicy
// in scripts/build.ts): code that runs a handful of times while `cave run` sets a sandbox up
// stays in the interpreter instead of being compiled by the baseline JIT, which was ~0.9 ms of
// every run (measured: 12.2 → 11.2 ms median, interleaved runs). Whatever runs longer than a
// start-up (the server, the database, audit verification, a terminal relay) must get the normal
// policy back first, or its hot loops would stay interpreted for 100× longer.

/** The scale the executable starts with; scripts/build.ts bakes it in. */
export const STARTUP_JIT_POLICY = 100;

/** Back to JavaScriptCore's normal tier-up thresholds (a no-op outside the compiled cave). */
export function normalJitPolicy(): void {
  Bun.unsafe.setJITPolicy(1);
}
