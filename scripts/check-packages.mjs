// Packs every publishable package as `pnpm publish` would, and checks each tarball as a
// consumer's tools will read it: publint (strict: warnings fail too) and Are The Types Wrong
// (ESM-only: the packages are ESM, so CommonJS resolutions are not asked for). Run after
// `pnpm build`; CI runs it before the tests.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const root = join(import.meta.dirname, '..');
const bin = (name) => join(root, 'node_modules', '.bin', name);
const out = mkdtempSync(join(tmpdir(), 'ostrom-packs-'));
let failed = 0;
try {
  for (const dir of readdirSync(join(root, 'packages'))) {
    const packageDir = join(root, 'packages', dir);
    const manifest = JSON.parse(readFileSync(join(packageDir, 'package.json'), 'utf8'));
    if (manifest.private) continue;
    const packed = execFileSync('pnpm', ['pack', '--pack-destination', out], {
      cwd: packageDir,
      encoding: 'utf8',
    });
    const tarball = packed.trim().split('\n').at(-1);
    for (const [tool, args] of [
      ['publint', ['run', '--strict', tarball]],
      ['attw', [tarball, '--profile', 'esm-only', '--format', 'ascii']],
    ]) {
      try {
        execFileSync(bin(tool), args, { encoding: 'utf8', stdio: 'pipe' });
      } catch (error) {
        failed += 1;
        console.error(`${manifest.name}: ${tool} found problems\n${error.stdout}${error.stderr}`);
      }
    }
  }
} finally {
  rmSync(out, { recursive: true, force: true });
}
if (failed > 0) process.exit(1);
console.log('check-packages: every package packs clean (publint --strict, attw esm-only)');
