/**
 * log — the one pino root logger. Output is asynchronous (sonic-boom without
 * sync writes) so logging never blocks the hot path; `flushLogs` is called on
 * shutdown so nothing buffered is lost. Tokens, cookies and authorization
 * headers are redacted wherever they appear.
 */
import { pino, type Logger, type DestinationStream } from 'pino';

export type { Logger };

const REDACT = [
  'token',
  'admin.token',
  'authorization',
  'cookie',
  'headers.authorization',
  'headers.cookie',
  'req.headers.authorization',
  'req.headers.cookie',
];

/** createLogger — root logger at `level`, writing to `destination` (default: async stdout). */
export function createLogger(level: string, destination?: DestinationStream): Logger {
  let dest = destination;
  if (dest === undefined) {
    const boom = pino.destination({ dest: 1, sync: false, minLength: 4096 });
    // Writes are batched up to 4 KiB; a quiet process must still show its lines promptly
    // (and lose at most ~1 s of them on kill -9), so flush on a timer too.
    setInterval(() => {
      try {
        boom.flush();
      } catch {
        // flush while a write is pending throws in some versions; the next tick retries
      }
    }, 1000).unref();
    dest = boom;
  }
  return pino(
    {
      level,
      base: { pid: process.pid, name: 'switchyard' },
      redact: { paths: REDACT, censor: '[redacted]' },
      timestamp: pino.stdTimeFunctions.isoTime,
    },
    dest,
  );
}

/** flushLogs — flush an async destination; resolves even if flushing fails. */
export function flushLogs(log: Logger): Promise<void> {
  return new Promise((resolve) => {
    try {
      log.flush((err?: Error) => {
        void err;
        resolve();
      });
    } catch {
      resolve();
    }
  });
}

/** silentLogger — for tests and tools that want no output. */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
