import type { Delivery } from "./transport.js";

/**
 * Hands a delivery to a consumer's `onDelivery`. If that throws, the consumer could not
 * take the task: it goes back to the broker (`release`) rather than being lost, and both
 * failures go to `onError`. Every broker's consumer hands deliveries over through this.
 */
export function handOver(
  delivery: Delivery,
  onDelivery: (delivery: Delivery) => void,
  onError: (error: unknown) => void,
): void {
  try {
    onDelivery(delivery);
  } catch (error) {
    onError(error);
    delivery.release().catch(onError);
  }
}
