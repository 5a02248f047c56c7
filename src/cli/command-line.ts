import { parseArgs } from 'node:util';
import { UsageError } from './usage-error.js';

const options = {
  url: { type: 'string' },
  follow: { type: 'boolean', default: false },
  watch: { type: 'boolean', default: false },
  train: { type: 'boolean', default: false },
  epochs: { type: 'string' },
  status: { type: 'string' },
  limit: { type: 'string' },
  out: { type: 'string' },
  name: { type: 'string' },
  label: { type: 'string' },
  features: { type: 'string' },
  text: { type: 'string' },
  'label-type': { type: 'string' },
  size: { type: 'string' },
  channels: { type: 'string' },
  help: { type: 'boolean', short: 'h', default: false },
} as const;

export type CommandLine = ReturnType<typeof parseArgs<{ allowPositionals: true; options: typeof options }>>;
export type CommandOptions = CommandLine['values'];

/** The options and positionals of `argv` (the process's own by default). */
export function parseCommandLine(args: string[] = process.argv.slice(2)): CommandLine {
  try {
    return parseArgs({ args, allowPositionals: true, options });
  } catch (error) {
    // parseArgs names the option it did not know; the stack trace would add nothing.
    throw new UsageError((error as Error).message);
  }
}

/** `--limit` as a whole number from 1 to `max`, `fallback` when absent. */
export function limitOption(values: CommandOptions, fallback: number, max: number): number {
  const limit = values.limit === undefined ? fallback : Number(values.limit);
  if (!Number.isInteger(limit) || limit < 1 || limit > max) throw new UsageError(`--limit must be a whole number from 1 to ${max}`);
  return limit;
}
