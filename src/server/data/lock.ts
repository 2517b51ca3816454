// A small async mutex: the data API's database work of one request runs as one unit, so its
// statements (BEGIN … COMMIT, a read and its embeds) never interleave with another request's
// on the shared connection.
export class Mutex {
  private tail: Promise<unknown> = Promise.resolve();

  /** Runs `fn` once every earlier holder is done; a failure does not block the next. */
  run<T>(fn: () => Promise<T>): Promise<T> {
    const result = this.tail.then(fn);
    this.tail = result.catch(() => {});
    return result;
  }
}
