import type { Inbox, InboxOptions, ReportRouter, Subscription } from "./transport.js";

/**
 * In-process report routing: inboxes by address, and broadcast to every subscriber.
 * Reports are handed over on a microtask, never on the sender's stack, and in the
 * order they were sent.
 */
export class MemoryReportRouter implements ReportRouter {
  private readonly inboxes = new Map<string, InboxOptions>();
  private readonly subscribers = new Set<InboxOptions>();
  private nextInbox = 0;
  private closed = false;

  async openInbox(options: InboxOptions): Promise<Inbox> {
    this.assertOpen();
    const address = `memory-inbox-${++this.nextInbox}`;
    this.inboxes.set(address, options);
    return {
      address,
      close: async () => {
        this.inboxes.delete(address);
      },
    };
  }

  // Not `async`: sending is synchronous here, and an async function would allocate a
  // promise per report.
  send(address: string, report: Uint8Array): Promise<void> {
    if (this.closed) return Promise.reject(closedError());
    const inbox = this.inboxes.get(address);
    if (inbox !== undefined) queueMicrotask(() => inbox.onReport(report));
    return done;
  }

  async broadcast(report: Uint8Array): Promise<void> {
    this.assertOpen();
    for (const subscriber of this.subscribers) queueMicrotask(() => subscriber.onReport(report));
  }

  async subscribe(options: InboxOptions): Promise<Subscription> {
    this.assertOpen();
    // A wrapper object per subscription, so that subscribing the same options twice is two subscriptions.
    const subscription: InboxOptions = { onReport: options.onReport, onError: options.onError };
    this.subscribers.add(subscription);
    return {
      close: async () => {
        this.subscribers.delete(subscription);
      },
    };
  }

  /** Drops every inbox and subscriber. */
  close(): void {
    this.closed = true;
    this.inboxes.clear();
    this.subscribers.clear();
  }

  private assertOpen(): void {
    if (this.closed) throw closedError();
  }
}

const done: Promise<void> = Promise.resolve();

function closedError(): Error {
  return new Error("the memory transport is closed");
}
