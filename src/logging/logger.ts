import { pino, type DestinationStream, type Logger } from 'pino';

export type { Logger };

/** `destination`: where the lines go (stdout by default); tests read them back. */
export function createLogger(level: string, name: string, destination?: DestinationStream): Logger {
  const options = {
    level,
    name,
    base: { pid: process.pid },
    // Belt and braces: nothing logs these on purpose (access tokens are cut from URLs before routing).
    redact: { paths: ['req.headers.authorization', 'headers.authorization', 'authorization', 'apiKey', '*.apiKey', 'adminToken'], censor: '[redacted]' },
  };
  return destination ? pino(options, destination) : pino(options);
}
