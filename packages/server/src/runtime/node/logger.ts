/**
 * Structured JSON logs (pino) on stdout, one object per line. Nothing secret and no
 * payload ever reaches a log call; `redact` is the safety net for key-shaped fields.
 */
import { type DestinationStream, type Logger, pino } from "pino";

export type { Logger };

export function createLogger(level: string, destination?: DestinationStream): Logger {
  return pino(
    {
      level,
      base: { service: "kalandrad", pid: process.pid },
      timestamp: pino.stdTimeFunctions.isoTime,
      redact: {
        paths: [
          "admin_token",
          "*.admin_token",
          "privateKey",
          "*.privateKey",
          "key",
          "*.key",
          "payload",
          "*.payload",
          "authorization",
        ],
        censor: "<redacted>",
      },
    },
    destination ?? pino.destination({ dest: 1, sync: true }),
  );
}
