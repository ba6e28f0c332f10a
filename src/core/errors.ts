import type { ErrorCode } from './error-codes.js';

export type { ErrorCode } from './error-codes.js';

/** Every error culm raises carries a stable code (tests and REST clients check it), a name and a cause. */
export class CulmError extends Error {
  readonly code: ErrorCode;
  readonly status: number;
  constructor(code: ErrorCode, message: string, options: { cause?: unknown; status?: number } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'CulmError';
    this.code = code;
    this.status = options.status ?? 500;
  }
}

export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
