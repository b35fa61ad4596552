import type { DingoEvent, DingoEventListener } from "./dingo-event.js";

/**
 * A synchronous, typed event stream. Every event reaches every listener subscribed
 * when it is emitted: nothing is buffered, so nothing is dropped.
 *
 * @example
 * ```ts
 * const events = createEventBus();
 * const stop = events.subscribe((event) => console.log(event.type));
 * stop();
 * ```
 */
export interface EventBus {
  /** Adds a listener; the returned function removes it (calling it twice is harmless). */
  subscribe(listener: DingoEventListener): () => void;
  /** Delivers an event to every listener. */
  emit(event: DingoEvent): void;
  /** Whether anyone listens: producers on hot paths skip building events nobody receives. */
  readonly hasListeners: boolean;
}

/** Creates an {@link EventBus}. Share one between clients and workers to see all their events in one place. */
export function createEventBus(): EventBus {
  let listeners: readonly DingoEventListener[] = [];
  return {
    get hasListeners() {
      return listeners.length > 0;
    },
    subscribe(listener) {
      // Copy on write, so a listener that unsubscribes during emit does not disturb the loop.
      listeners = [...listeners, listener];
      return () => {
        listeners = listeners.filter((candidate) => candidate !== listener);
      };
    },
    emit(event) {
      for (const listener of listeners) {
        try {
          listener(event);
        } catch (error) {
          // A faulty listener must neither stop the others nor break the task being
          // processed, and must not vanish either: surface it like any uncaught bug.
          queueMicrotask(() => {
            throw error;
          });
        }
      }
    },
  };
}
