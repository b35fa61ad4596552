import { CliError } from "./cli-error.js";

/** The queue names of a comma-separated option value (`a,b`), blanks dropped; at least one. */
export function queueList(text: string, option = "--queues"): string[] {
  const queues = [
    ...new Set(
      text
        .split(",")
        .map((queue) => queue.trim())
        .filter((queue) => queue !== ""),
    ),
  ];
  if (queues.length === 0) throw new CliError(`${option}: no queue given`);
  return queues;
}
