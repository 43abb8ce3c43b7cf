import { pino, type Logger } from 'pino';

export type { Logger };

/** JSON lines on stdout; `SEALFLEET_LOG` sets the level (trace … fatal, or silent). */
export function createLogger(name: string, bindings: Record<string, unknown> = {}): Logger {
  return pino({ name, level: process.env.SEALFLEET_LOG ?? 'info', base: { ...bindings } });
}
