/**
 * The prefix of every Redis key and RabbitMQ name when none is given (docs/WIRE.md):
 * one constant, so that the transports and the tools that find their objects agree.
 */
export const defaultPrefix = "dingo";
