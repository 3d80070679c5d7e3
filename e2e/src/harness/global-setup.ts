import fs from 'node:fs';
import { dockerAvailable, removeLabelled } from './docker-cli';
import { buildImages } from './images';
import { logDir } from './paths';

/** Jest globalSetup: Docker reachable, stale e2e containers gone, images built once, fresh log dir. */
export default async function globalSetup(): Promise<void> {
  if (!(await dockerAvailable())) {
    throw new Error(
      'No Docker Engine answers `docker info`: the e2e suites need one (bash infra/scripts/ensure-docker.sh starts it).',
    );
  }
  const stale = await removeLabelled();
  if (stale > 0) console.log(`[e2e] removed ${stale} container(s) left by an earlier run`);
  fs.rmSync(logDir(), { recursive: true, force: true });
  fs.mkdirSync(logDir(), { recursive: true });
  buildImages();
}
