/**
 * The key a task is known by in the result store and in a caller's table of pending
 * calls: `<task name>/<task id>`, for example `example.v1.MathTasks/Add/0b9f…`.
 *
 * Ids are unique per task name, not globally (a caller may choose its own ids, and two
 * task names may use the same one), so the name is part of the key.
 */
export function taskKey(name: string, id: string): string {
  return `${name}/${id}`;
}
