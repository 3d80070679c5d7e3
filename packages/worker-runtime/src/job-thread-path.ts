import { existsSync } from 'node:fs';
import { join } from 'node:path';

/**
 * Compiled entry of the job thread (src/job-thread.ts). From dist it sits next to this file; under
 * ts-jest (src/) a thread still needs JavaScript, so it is taken from dist (the test script builds
 * first).
 */
export function jobThreadPath(dir = __dirname): string {
  const here = join(dir, 'job-thread.js');
  return existsSync(here) ? here : join(dir, '..', 'dist', 'job-thread.js');
}

export const JOB_THREAD_PATH = jobThreadPath();
