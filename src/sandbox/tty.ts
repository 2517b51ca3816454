// Terminal support: when cave runs in a terminal the command gets a fresh pseudo-terminal
// of the sandbox's own devpts (opened by the helper, master passed back over the status
// socket) and cave relays bytes between it and the caller's terminal. The command never
// holds the caller's tty, so it cannot inject input there (TIOCSTI) or change its modes.
import * as libc from "../../ffi/libc.ts";

export class PtyRelay {
  private saved: Uint8Array | null = null;
  private stdinOpen = true;
  private buf = new Uint8Array(65536);
  private onWinch = () => {
    libc.copyWinsize(0, this.master);
  };

  constructor(readonly master: number) {}

  /** Size the sandbox's terminal like the caller's (before the command starts). */
  size(): void {
    libc.copyWinsize(0, this.master) || libc.copyWinsize(1, this.master);
  }

  /** Raw mode on the caller's terminal: keys go to the command as typed. */
  start(): void {
    this.saved = libc.makeRaw(0);
    process.on("SIGWINCH", this.onWinch);
  }

  pollFds(): [number, number][] {
    const fds: [number, number][] = [[this.master, libc.POLLIN]];
    if (this.stdinOpen) fds.push([0, libc.POLLIN]);
    return fds;
  }

  /** Moves whatever is ready; `revents` line up with pollFds(). Returns false once the pty closed. */
  pump(revents: number[]): boolean {
    const [masterEv = 0, stdinEv = 0] = revents;
    if (stdinEv && this.stdinOpen) {
      const n = this.safeRead(0);
      if (n <= 0) this.stdinOpen = false;
      else libc.writeAll(this.master, this.buf.subarray(0, n));
    }
    if (masterEv) {
      const n = this.safeRead(this.master);
      if (n <= 0) return false; // EIO: every slave is closed
      libc.writeAll(1, this.buf.subarray(0, n));
    }
    return true;
  }

  /** After the command exits: copy what it wrote last. */
  drain(): void {
    for (;;) {
      const [ev = 0] = libc.poll([[this.master, libc.POLLIN]], 0);
      if (!ev || !this.pump([ev, 0])) return;
    }
  }

  stop(): void {
    process.off("SIGWINCH", this.onWinch);
    if (this.saved) libc.restoreTerminal(0, this.saved);
    libc.close(this.master);
  }

  private safeRead(fd: number): number {
    try {
      return libc.read(fd, this.buf);
    } catch (e) {
      if (e instanceof libc.SysError && e.errno === 5) return 0; // EIO
      throw e;
    }
  }
}
