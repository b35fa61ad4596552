/**
 * What a worker knows about cancellations from the broadcasts it received, so that it
 * can skip the result-store lookup before running a task that cannot have been
 * cancelled (docs/WIRE.md, worker algorithm): on a remote store the lookup is a round
 * trip on every task's critical path, and cancellations are rare.
 *
 * A task may have been cancelled without this worker hearing of it when the
 * cancellation was broadcast while the worker's subscription was down, or before this
 * worker was listening, or so long ago that it was forgotten. All three come down to one
 * instant, `trustedSince`: every cancellation broadcast after it was heard and is still
 * remembered. A cancellation comes after its task was created, so a task created after
 * `trustedSince` (by the caller's clock, allowed to be `clockSkewMs` ahead of ours) whose
 * key was not heard of was not cancelled before it reached us.
 */
export class CancellationMemory {
  /** Keys of the cancellations heard, oldest first, with when they were heard. */
  private readonly heard = new Map<string, number>();
  /** Whether the subscription is up, and since when every broadcast was heard. */
  private listening = false;
  private trustedSince = Number.POSITIVE_INFINITY;

  /**
   * @param clockSkewMs how far a caller's clock may be ahead of this worker's.
   * @param capacity most cancellations remembered; forgetting one moves `trustedSince`.
   */
  constructor(
    private readonly clockSkewMs: number,
    private readonly capacity = 10_000,
  ) {}

  /** The subscription is up (again) at `nowMs`: broadcasts from now on are heard. */
  listeningSince(nowMs: number): void {
    this.listening = true;
    this.trustedSince = nowMs;
  }

  /** The subscription broke: broadcasts may be missed until it is up again. */
  deaf(): void {
    this.listening = false;
    this.trustedSince = Number.POSITIVE_INFINITY;
  }

  /** A cancellation of `key` was heard at `nowMs`. */
  heardCancellation(key: string, nowMs: number): void {
    this.heard.delete(key);
    this.heard.set(key, nowMs);
    if (this.heard.size <= this.capacity) return;
    const [oldest, at] = this.heard.entries().next().value as [string, number];
    this.heard.delete(oldest);
    // Tasks created before the forgotten cancellation can no longer be told apart.
    this.trustedSince = Math.max(this.trustedSince, at);
  }

  /**
   * Whether the task with `key`, created at `createdAtMs` by its caller's clock, may have
   * been cancelled before this worker received it (then the store must be asked).
   */
  mayHaveBeenCancelled(key: string, createdAtMs: number): boolean {
    if (!this.listening || createdAtMs - this.clockSkewMs <= this.trustedSince) return true;
    // Last: the usual answer needs no hashing of the key when nothing was heard.
    return this.heard.size > 0 && this.heard.has(key);
  }
}
