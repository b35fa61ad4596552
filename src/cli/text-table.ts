/** How a column of {@link textTable} is aligned: text left, numbers right. */
export type ColumnAlign = "left" | "right";

/**
 * Lays out rows under a header in columns two spaces apart, each as wide as its widest
 * cell; the last column is not padded (no trailing spaces). Ends with a newline.
 */
export function textTable(
  header: readonly string[],
  rows: readonly (readonly string[])[],
  align: readonly ColumnAlign[],
): string {
  const all = [header, ...rows];
  const widths = header.map((_, column) => Math.max(...all.map((row) => (row[column] ?? "").length)));
  const last = header.length - 1;
  const line = (row: readonly string[]): string =>
    row
      .map((cell, column) => {
        const width = widths[column] ?? 0;
        if (align[column] === "right") return cell.padStart(width);
        return column === last ? cell : cell.padEnd(width);
      })
      .join("  ");
  return `${all.map(line).join("\n")}\n`;
}
