import { createHash } from 'node:crypto';

/** The registration token of the e2e stacks (backend and workers share it; ≥ 32 characters). */
export const E2E_WORKER_TOKEN = 'e2e-worker-registration-token-0123456789';
/** The operate API key the harness sends; the backend is configured with its SHA-256 only. */
export const E2E_API_KEY = 'e2e-operate-api-key-0123456789abcdef0123';
export const E2E_API_KEY_SHA256 = createHash('sha256').update(E2E_API_KEY).digest('hex');
