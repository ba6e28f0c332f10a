/** Shared by the Marathon edge's unit tests. */
import { MarathonError } from '../../src/marathon/index.js';
import { freePort } from './net.js';

/** The MarathonError a promise rejects with (anything else is re-thrown; fulfilling is an error). */
export async function rejection(p: Promise<unknown>): Promise<MarathonError> {
  try {
    await p;
  } catch (err) {
    if (err instanceof MarathonError) return err;
    throw err;
  }
  throw new Error('expected a rejection');
}

/** A loopback URL with nothing listening: connection refused. */
export async function deadUrl(): Promise<string> {
  return `http://127.0.0.1:${await freePort()}`;
}
