import { InvalidArgumentError } from "commander";

/**
 * A commander argument parser for an integer in `min..max`: commander prints its
 * error as `error: option '--x <n>' argument '…' is invalid. <message>`.
 */
export function integerOption(min: number, max = Number.MAX_SAFE_INTEGER): (value: string) => number {
  return (value) => {
    const number = /^-?\d+$/.test(value.trim()) ? Number(value) : Number.NaN;
    if (!Number.isSafeInteger(number) || number < min || number > max) {
      throw new InvalidArgumentError(
        max === Number.MAX_SAFE_INTEGER ? `Expected an integer >= ${min}.` : `Expected an integer ${min}..${max}.`,
      );
    }
    return number;
  };
}
