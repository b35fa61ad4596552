/**
 * One running handler and the means to stop it. The handler's `AbortSignal` is made
 * only if the handler reads it: most handlers never do, and an AbortController with
 * its listeners is among the costliest things on a task's path.
 */
export class Execution {
  private controller: AbortController | undefined;
  private rejectRun: ((reason: unknown) => void) | undefined;
  private abortedWith: { reason: unknown } | undefined;

  /** Whether {@link abort} was called. */
  get aborted(): boolean {
    return this.abortedWith !== undefined;
  }

  /** The reason given to {@link abort}, or undefined. */
  get reason(): unknown {
    return this.abortedWith?.reason;
  }

  /** The handler's signal; it fires when {@link abort} is called. */
  get signal(): AbortSignal {
    if (this.controller === undefined) {
      this.controller = new AbortController();
      if (this.abortedWith !== undefined) this.controller.abort(this.abortedWith.reason);
    }
    return this.controller.signal;
  }

  /** Stops the execution: fires the signal and makes {@link race} reject with `reason`. Only the first call counts. */
  abort(reason: unknown): void {
    if (this.abortedWith !== undefined) return;
    this.abortedWith = { reason };
    this.controller?.abort(reason);
    this.rejectRun?.(reason);
  }

  /**
   * Settles like `work` (the promise a handler returned), or rejects with the abort
   * reason as soon as the execution is aborted, whichever comes first: the worker stops
   * waiting for a handler that ignores its signal.
   */
  race<T>(work: PromiseLike<T>): Promise<T> {
    if (this.abortedWith !== undefined) return Promise.reject(this.abortedWith.reason);
    return new Promise<T>((resolve, reject) => {
      this.rejectRun = reject;
      try {
        work.then(resolve, reject);
      } catch (error) {
        // A foreign thenable whose `then` throws.
        reject(error);
      }
    });
  }
}
