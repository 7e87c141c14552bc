// Where the server under test listens, and small helpers shared by the suites.
import { randomBytes } from 'node:crypto';

/** The taskql server the suite talks to (started by .ci/run or by hand). */
export const HTTP_URL = process.env.TASKQL_URL ?? 'http://127.0.0.1:8000/graphql';
/** Its subscription endpoint. */
export const WS_URL = HTTP_URL.replace(/^http/, 'ws') + '/ws';

export const PASSWORD = 'correct horse battery staple';

/** A username no other run has used. */
export function uniqueName(prefix: string): string {
  return `${prefix}_${randomBytes(6).toString('hex')}`;
}

/** Resolves after `ms` milliseconds. */
export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
