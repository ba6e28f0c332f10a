import type { ErrorCode } from './error-codes.js';

export type { ErrorCode } from './error-codes.js';

/** Every error culm raises carries a stable code (tests and REST clients check it), a name and a cause. */
export class CulmError extends Error {
  readonly code: ErrorCode;
  readonly status: number;
  /** The full text when `message` is a short form of it (HAProxy's whole output for a refused rule). */
  readonly detail?: string;
  constructor(code: ErrorCode, message: string, options: { cause?: unknown; status?: number; detail?: string } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'CulmError';
    this.code = code;
    this.status = options.status ?? 500;
    if (options.detail !== undefined) this.detail = options.detail;
  }
}

export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
