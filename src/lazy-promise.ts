const noop = (): void => {};

/**
 * A promise that is made only when someone asks for it. A call has two promises (`sent`
 * and `result`) and most callers use one of them; making the other one, with the
 * handler that keeps its rejection from being reported as unhandled, would be wasted
 * work on every call.
 */
export class LazyPromise<T> {
  private made: Promise<T> | undefined;
  private resolveMade: ((value: T) => void) | undefined;
  private rejectMade: ((reason: unknown) => void) | undefined;
  private outcome:
    | { readonly ok: true; readonly value: T }
    | { readonly ok: false; readonly reason: unknown }
    | undefined;

  /** Whether it has been resolved or rejected. */
  get settled(): boolean {
    return this.outcome !== undefined;
  }

  /** The promise; the same object on every access. Its rejection is never reported as unhandled. */
  get promise(): Promise<T> {
    if (this.made === undefined) {
      const outcome = this.outcome;
      if (outcome === undefined) {
        this.made = new Promise<T>((resolve, reject) => {
          this.resolveMade = resolve;
          this.rejectMade = reject;
        });
      } else {
        this.made = outcome.ok ? Promise.resolve(outcome.value) : Promise.reject(outcome.reason);
      }
      // Asking for the promise (even by destructuring a handle) is not handling it.
      this.made.catch(noop);
    }
    return this.made;
  }

  /** Resolves it, unless it is settled already. */
  resolve(value: T): void {
    if (this.outcome !== undefined) return;
    this.outcome = { ok: true, value };
    this.resolveMade?.(value);
  }

  /** Rejects it, unless it is settled already. */
  reject(reason: unknown): void {
    if (this.outcome !== undefined) return;
    this.outcome = { ok: false, reason };
    this.rejectMade?.(reason);
  }
}
