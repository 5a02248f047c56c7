/** Lines to stdout and stderr, and the width a terminal gives them. */

export const out = (line: string) => process.stdout.write(`${line}\n`);
export const err = (line: string) => process.stderr.write(`${line}\n`);

/** The terminal's width; 80 when stdout is not a terminal. */
export const columns = () => (process.stdout.isTTY && process.stdout.columns > 0 ? process.stdout.columns : 80);

/** Words into lines of at most `width` characters (a longer word gets a line of its own, cut). */
export function wrap(text: string, width: number): string[] {
  const lines: string[] = [];
  let line = '';
  for (const word of text.split(' ')) {
    if (line && line.length + 1 + word.length > width) {
      lines.push(line);
      line = '';
    }
    line = line ? `${line} ${word}` : word.slice(0, width);
  }
  if (line) lines.push(line);
  return lines;
}
