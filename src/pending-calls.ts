import type { PendingCall } from "./pending-call.js";

type Entry = PendingCall<unknown> | PendingCall<unknown>[];

/**
 * A caller's pending calls, found by the task id and name of an incoming report.
 *
 * Keyed by id alone, with the rare same-id calls (another task name with the same id, or
 * a second call of a task already pending here) kept in a small array: routing a report
 * then hashes the id the decoder produced, instead of building and hashing a
 * `<name>/<id>` string for every report.
 */
export class PendingCalls {
  private readonly byId = new Map<string, Entry>();

  /** Whether a call of the task (name and id) is pending. */
  has(name: string, id: string): boolean {
    const entry = this.byId.get(id);
    if (entry === undefined) return false;
    if (!Array.isArray(entry)) return entry.name === name;
    return entry.some((call) => call.name === name);
  }

  add(call: PendingCall<unknown>): void {
    const entry = this.byId.get(call.id);
    if (entry === undefined) this.byId.set(call.id, call);
    else if (Array.isArray(entry)) entry.push(call);
    else this.byId.set(call.id, [entry, call]);
  }

  remove(call: PendingCall<unknown>): void {
    const entry = this.byId.get(call.id);
    if (entry === call) {
      this.byId.delete(call.id);
    } else if (Array.isArray(entry)) {
      const rest = entry.filter((candidate) => candidate !== call);
      if (rest.length === 0) this.byId.delete(call.id);
      else this.byId.set(call.id, rest.length === 1 ? (rest[0] as PendingCall<unknown>) : rest);
    }
  }

  /** Every pending call, each once. */
  *all(): IterableIterator<PendingCall<unknown>> {
    for (const entry of this.byId.values()) {
      if (Array.isArray(entry)) yield* entry;
      else yield entry;
    }
  }

  /** Calls `visit` with every pending call of the task (name and id). */
  forEach(name: string, id: string, visit: (call: PendingCall<unknown>) => void): void {
    const entry = this.byId.get(id);
    if (entry === undefined) return;
    if (!Array.isArray(entry)) {
      if (entry.name === name) visit(entry);
      return;
    }
    // A copy: a visit may settle a call, which removes it from the table.
    for (const call of [...entry]) if (call.name === name) visit(call);
  }
}
