/**
 * The name a connection of the transport gives itself (`CLIENT SETNAME`), so that
 * `CLIENT LIST` shows which prefix and role each belongs to. Redis refuses names with
 * spaces or control characters: those become `_`.
 */
export function redisConnectionName(prefix: string, role: string): string {
  return `${prefix}:${role}`.replace(/[^\x21-\x7e]/g, "_");
}
