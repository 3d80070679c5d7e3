// What every bench script shares: the repository root, `--name=value` options, and loading a built
// package with a clear message when it has not been built.
import { writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const require = createRequire(import.meta.url);

/** The value of `--name=value` on the command line, or `dflt`. */
export function arg(name, dflt) {
  const hit = process.argv.find((a) => a.startsWith(`--${name}=`));
  return hit ? hit.slice(name.length + 3) : dflt;
}

/** A comma-separated list of sizes (`1e5,1e6`) as whole numbers. */
export function sizesArg(name, dflt) {
  return arg(name, dflt)
    .split(',')
    .map((s) => Math.round(Number(s)));
}

/** `require` of a file under the repository root (a package's dist); exits 1 naming the build. */
export function loadBuilt(relative, buildHint = 'pnpm -r build') {
  try {
    return require(path.join(root, relative));
  } catch (err) {
    console.error(`Cannot load ${relative} (${err.message}).\nBuild it first: ${buildHint}`);
    process.exit(1);
  }
}

/** A CPU profile of this thread from now until `stop(file)` (a bench's --profile=FILE). */
export async function startProfile() {
  const { Session } = await import('node:inspector/promises');
  const session = new Session();
  session.connect();
  await session.post('Profiler.enable');
  await session.post('Profiler.start');
  return {
    async stop(file) {
      const { profile } = await session.post('Profiler.stop');
      writeFileSync(file, JSON.stringify(profile));
      session.disconnect();
      console.log(`  CPU profile of the drain: ${file}`);
    },
  };
}
