import { compiledEntry } from '@ktrdr/config';

/** Compiled entry of the job thread (src/job-thread.ts; from src/ under ts-jest: the one in dist). */
export const JOB_THREAD_PATH = compiledEntry(__dirname, 'job-thread.js');
