// Start-up phase marks for `--debug`: where the milliseconds of a run went.
const marks: [string, number][] = [];

export function mark(name: string): void {
  marks.push([name, performance.now()]);
}

/** The marks so far: (name, performance.now() at the phase's end), in order. */
export function getMarks(): readonly [string, number][] {
  return marks;
}

/** "phase: +Δms (at ms)" lines, measured from process start. */
export function formatMarks(): string {
  let prev = 0;
  return marks
    .map(([name, t]) => {
      const line = `  ${name}: +${(t - prev).toFixed(2)} ms (at ${t.toFixed(2)} ms)`;
      prev = t;
      return line;
    })
    .join("\n");
}
