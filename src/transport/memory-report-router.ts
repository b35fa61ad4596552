import type { Inbox, InboxOptions, ReportRouter, Subscription } from "./transport.js";

/**
 * In-process report routing: inboxes by address, and broadcast to every subscriber.
 * Reports are handed over later, never on the sender's stack, and in the order they were
 * sent: queued, then delivered in one batch on a microtask.
 */
export class MemoryReportRouter implements ReportRouter {
  private readonly inboxes = new Map<string, InboxOptions>();
  private readonly subscribers = new Set<InboxOptions>();
  /** Reports waiting for delivery, as receiver, report, receiver, report, … */
  private queued: (InboxOptions | Uint8Array)[] = [];
  private flushScheduled = false;
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
    if (inbox !== undefined) this.enqueue(inbox, report);
    return done;
  }

  async broadcast(report: Uint8Array): Promise<void> {
    this.assertOpen();
    for (const subscriber of this.subscribers) this.enqueue(subscriber, report);
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

  private enqueue(receiver: InboxOptions, report: Uint8Array): void {
    this.queued.push(receiver, report);
    if (this.flushScheduled) return;
    this.flushScheduled = true;
    // A promise reaction rather than queueMicrotask, which makes an AsyncResource per call.
    // flush() does not throw.
    void done.then(this.flush);
  }

  private readonly flush = (): void => {
    this.flushScheduled = false;
    const batch = this.queued;
    this.queued = [];
    for (let i = 0; i < batch.length; i += 2) {
      const receiver = batch[i] as InboxOptions;
      try {
        receiver.onReport(batch[i + 1] as Uint8Array);
      } catch (error) {
        // One faulty receiver must not cost the others their reports.
        receiver.onError(error);
      }
    }
  };

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
