import { spawnSync } from 'node:child_process';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { findBinary, subdirs } from './find-binary.js';
import { servicesRequired } from './services.js';

/**
 * A Python interpreter that can `import yaml` (PyYAML, what Tahoe-LAFS reads servers.yaml with),
 * or undefined with a visible message. The machine's pyenv Python has it (it comes with moto);
 * `OSTROM_PYTHON` overrides. Under CI a missing one is a failure, as for the other services.
 */
export function pyyamlPython(suite: string): string | undefined {
  const pyenvRoot = process.env.PYENV_ROOT ?? join(homedir(), '.pyenv');
  const candidates = subdirs(join(pyenvRoot, 'versions')).map((dir) => join(dir, 'bin', 'python3'));
  for (const python of [
    process.env.OSTROM_PYTHON,
    ...candidates,
    findBinary('python3', [], 'OSTROM_PYTHON'),
  ]) {
    if (python && spawnSync(python, ['-c', 'import yaml']).status === 0) return python;
  }
  if (servicesRequired()) throw new Error(`Python with PyYAML is required under CI (${suite})`);
  console.warn(
    `\n  [ostrom] no Python with PyYAML: skipping "${suite}". Under CI=true this is a failure.\n`,
  );
  return undefined;
}
