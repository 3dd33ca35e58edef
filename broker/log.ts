// The root pino logger: JSON lines on stdout (or a given destination), secrets redacted.
import { pino, type Logger, type DestinationStream } from 'pino'

export type { Logger }

/** Paths that may carry credentials; pino replaces them before serialising. */
const REDACT_PATHS = ['password', 'secret', 'token', '*.password', '*.secret', '*.token', 'headers.authorization']

export function createLogger (level: string, destination?: DestinationStream): Logger {
  const options = {
    level,
    base: { service: 'city-sensor-gateway' },
    redact: { paths: REDACT_PATHS, censor: '[redacted]' },
  }
  return destination === undefined ? pino(options) : pino(options, destination)
}
