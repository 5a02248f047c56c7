/** One event of a job's log as a sentence for people. */
export function describeEvent(type: string, data: Record<string, unknown>): string;
/** A metric value for people: 4 significant digits, exponents for the very large and very small. */
export function formatNumber(value: number): string;
