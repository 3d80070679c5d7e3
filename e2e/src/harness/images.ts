import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { childProcessEnv, getTestSettings } from '@ktrdr/config';
import { REPO_ROOT } from './paths';

/**
 * Builds the three service images once per run (infra/scripts/build-images.sh: idempotent, so an
 * unchanged build output reuses the existing images). The base image is KTRDR_TEST_NODE_IMAGE
 * (default ktrdr/node-runtime:20, made from the host's node when missing).
 */
export function buildImages(): void {
  const nodeImage = getTestSettings().node_image;
  const started = Date.now();
  console.log(`[e2e] building images FROM ${nodeImage} (infra/scripts/build-images.sh)`);
  const r = spawnSync('bash', [path.join(REPO_ROOT, 'infra/scripts/build-images.sh')], {
    cwd: REPO_ROOT,
    stdio: 'inherit',
    env: childProcessEnv({ NODE_IMAGE: nodeImage }),
  });
  if (r.error) throw new Error(`could not run build-images.sh: ${r.error.message}`);
  if (r.status !== 0) throw new Error(`build-images.sh failed with exit code ${r.status}`);
  console.log(`[e2e] images ready in ${((Date.now() - started) / 1000).toFixed(1)} s`);
}
