import { pino, type Logger } from 'pino';

export type { Logger };

export function createLogger(level: string, name: string): Logger {
  return pino({
    level,
    name,
    base: { pid: process.pid },
    // Belt and braces: nothing logs these on purpose (access tokens are cut from URLs before routing).
    redact: { paths: ['req.headers.authorization', 'headers.authorization', 'authorization', 'apiKey', '*.apiKey', 'adminToken'], censor: '[redacted]' },
  });
}
