import type { SubmittedJob } from '../client/index.js';
import { columns, err, out, wrap } from './terminal-output.js';

/**
 * A job just made: its id and status on stdout, and its advice on stderr, where a warning goes and
 * never changes the exit status; at a terminal each tip is wrapped to fit, as the progress is.
 */
export function printSubmitted(job: Pick<SubmittedJob, 'id' | 'status' | 'advice'>): void {
  out(`job ${job.id} ${job.status}`);
  for (const advice of job.advice) {
    const text = `advice ${advice.code}: ${advice.field}: ${advice.reason} (${advice.source}; silence with silenceAdvice)`;
    for (const line of process.stderr.isTTY ? wrap(text, columns() - 1) : [text]) err(line);
  }
}
