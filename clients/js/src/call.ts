/** One call in flight: a promise of its result, and (for a streaming method) an async iterator
 * of its items. */
import { AgentError } from "./errors.js";

/** A call of a method that returns a value: await it; `cancel()` stops it in the agent. */
export interface Call<T> extends PromiseLike<T> {
  readonly id: string;
  cancel(): void;
  catch<R = never>(onrejected?: ((reason: unknown) => R | PromiseLike<R>) | null): Promise<T | R>;
  finally(onfinally?: (() => void) | null): Promise<T>;
}

/** A call of a streaming method: iterate its items (`for await`), or await its end. */
export interface StreamCall<T> extends Call<void>, AsyncIterable<T> {}

type Waiter<T> = { resolve: (r: IteratorResult<T>) => void; reject: (e: unknown) => void };

/** Both shapes at once: the server answers a call with `result`, or with `chunk`s then `end`. */
export class PendingCall<T = unknown, I = unknown> implements Call<T>, AsyncIterable<I> {
  readonly id: string;
  /** Sent on the socket it was made on (a drop rejects it); else it waits for the next one. */
  sent = false;
  private readonly promise: Promise<T>;
  private settle!: { resolve: (v: T) => void; reject: (e: unknown) => void };
  private readonly items: I[] = [];
  private waiters: Waiter<I>[] = [];
  private finished: { error?: unknown } | null = null;
  private readonly onChunk?: (item: I) => void;
  /** Items are kept for an iterator unless the call is only awaited (or has `onChunk`). */
  private keep = true;

  constructor(id: string, private readonly cancelCall: (id: string) => void, onChunk?: (item: I) => void) {
    this.id = id;
    this.onChunk = onChunk;
    if (onChunk) this.keep = false;
    this.promise = new Promise<T>((resolve, reject) => {
      this.settle = { resolve, reject };
    });
    this.promise.catch(() => undefined); // an unobserved failure is not an unhandled rejection
  }

  chunk(item: I): void {
    this.onChunk?.(item);
    const waiter = this.waiters.shift();
    if (waiter) waiter.resolve({ value: item, done: false });
    else if (this.keep) this.items.push(item);
  }

  resolve(value: T): void {
    this.finish({});
    this.settle.resolve(value);
  }

  reject(error: unknown): void {
    this.finish({ error });
    this.settle.reject(error);
  }

  private finish(how: { error?: unknown }): void {
    this.finished = how;
    for (const waiter of this.waiters.splice(0)) {
      if ("error" in how) waiter.reject(how.error);
      else waiter.resolve({ value: undefined, done: true });
    }
  }

  cancel(): void {
    if (!this.finished) this.cancelCall(this.id);
  }

  then<R1 = T, R2 = never>(
    onfulfilled?: ((value: T) => R1 | PromiseLike<R1>) | null,
    onrejected?: ((reason: unknown) => R2 | PromiseLike<R2>) | null,
  ): Promise<R1 | R2> {
    if (this.items.length === 0 && this.waiters.length === 0) this.keep = false;
    return this.promise.then(onfulfilled, onrejected);
  }

  catch<R = never>(onrejected?: ((reason: unknown) => R | PromiseLike<R>) | null): Promise<T | R> {
    return this.then(undefined, onrejected);
  }

  finally(onfinally?: (() => void) | null): Promise<T> {
    return Promise.resolve(this).finally(onfinally);
  }

  [Symbol.asyncIterator](): AsyncIterator<I> {
    this.keep = true;
    return {
      next: () => {
        if (this.items.length > 0) return Promise.resolve({ value: this.items.shift() as I, done: false });
        if (this.finished) {
          return "error" in this.finished
            ? Promise.reject(this.finished.error)
            : Promise.resolve({ value: undefined, done: true });
        }
        return new Promise<IteratorResult<I>>((resolve, reject) => this.waiters.push({ resolve, reject }));
      },
      return: () => {
        this.cancel(); // leaving a `for await` early stops the stream
        this.keep = false;
        this.items.length = 0;
        return Promise.resolve({ value: undefined, done: true });
      },
    };
  }
}

export function lost(): AgentError {
  return new AgentError("connection_lost", "connection dropped");
}
