import pretty from 'pino-pretty';
import { pino, type DestinationStream, type Logger } from 'pino';

export type { Logger };

/**
 * `destination`: where the lines go; tests read them back. Without one, a person at a terminal
 * reads coloured lines and anything else (a file, a pipe, a log collector) gets one JSON object
 * per line: a pipe is never a terminal, so `npm start | jq` still gets JSON.
 */
export function createLogger(level: string, name: string, destination?: DestinationStream): Logger {
  const options = {
    level,
    name,
    base: { pid: process.pid },
    // Belt and braces: nothing logs these on purpose (access tokens are cut from URLs before routing).
    redact: { paths: ['req.headers.authorization', 'headers.authorization', 'authorization', 'apiKey', '*.apiKey', 'adminToken'], censor: '[redacted]' },
  };
  if (destination) return pino(options, destination);
  // In this thread, not a transport's worker: the last lines before a crash are not lost.
  if (process.stdout.isTTY) return pino(options, pretty({ colorize: true, sync: true, translateTime: 'SYS:HH:MM:ss.l', ignore: 'pid,hostname' }));
  return pino(options);
}
