// Messages for people, on stderr (stdout belongs to the sandboxed command), in consola's
// basic format ("[warn] …"). Written with write(2) on fd 2: the first touch of Bun's
// `process.stderr` builds a node stream and costs ~8 ms of start-up (measured), more than
// the whole sandbox set-up, and consola would make that touch.
// writeSync is ffi/fs.ts's (libc's write), not node:fs's: that module costs ~1 ms to import.
import { writeSync } from "../../ffi/fs.ts";

/** Writes all of `text` to fd 2 synchronously; a stderr that cannot take it is not an error. */
export function writeStderr(text: string): void {
  const buf = Buffer.from(text);
  let off = 0;
  try {
    while (off < buf.byteLength) off += writeSync(2, buf, off);
  } catch (e) {
    // A non-blocking stderr that is full: let the stream queue the rest.
    if ((e as NodeJS.ErrnoException).code === "EAGAIN") process.stderr.write(buf.subarray(off));
    // EPIPE, EBADF: nobody reads stderr; the run's outcome must not depend on it.
  }
}

// consola's levels: warn 1, info 3; CONSOLA_LEVEL (a number) silences the ones above it.
const LEVEL = (() => {
  const n = Number.parseInt(process.env.CONSOLA_LEVEL ?? "", 10);
  return Number.isNaN(n) ? 3 : n;
})();

export function warn(message: string): void {
  if (LEVEL >= 1) writeStderr(`[warn] ${message}\n`);
}

export function info(message: string): void {
  if (LEVEL >= 3) writeStderr(`[info] ${message}\n`);
}
