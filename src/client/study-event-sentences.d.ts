/** One event of a study's log as a sentence for people; `context.metric` names the objective in results and the best trial. */
export function describeStudyEvent(type: string, data: Record<string, unknown>, context?: { metric?: string }): string;
/** A trial's values by spec path, as `path = value, …`: numbers to 4 significant digits, names bare, configs as compact JSON. */
export function formatParams(params: Record<string, unknown>): string;
