import { getTestSettings } from '@ktrdr/config';
import { removeLabelled } from './docker-cli';

/** Jest globalTeardown: removes every e2e container and network by label (unless kept for debugging). */
export default async function globalTeardown(): Promise<void> {
  if (getTestSettings().keep_containers) {
    console.log(
      '[e2e] KTRDR_TEST_KEEP_CONTAINERS is set: containers left running (label dev.ktrdr.e2e)',
    );
    return;
  }
  const removed = await removeLabelled();
  if (removed > 0) console.log(`[e2e] removed ${removed} leftover container(s) by label`);
}
