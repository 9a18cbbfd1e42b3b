// Packs every publishable package as `pnpm publish` would, and checks each tarball as a
// consumer's tools will read it: publint (strict: warnings fail too) and Are The Types Wrong
// (ESM-only: the packages are ESM, so CommonJS resolutions are not asked for). Then installs
// examples/embed from those tarballs with npm in a temporary directory, as an embedding developer
// would, type-checks it strictly and runs it (a node served by @ostrom/http, and a StorageClient
// that uploads and reads back through it). Run after `pnpm build`; CI runs it before the tests.
import { execFileSync } from 'node:child_process';
import {
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';

const root = join(import.meta.dirname, '..');
const bin = (name) => join(root, 'node_modules', '.bin', name);
const out = mkdtempSync(join(tmpdir(), 'ostrom-packs-'));
/** Each published package by name: its workspace manifest and the path of its tarball. */
const packed = new Map();
let failed = 0;
try {
  for (const dir of readdirSync(join(root, 'packages'))) {
    const packageDir = join(root, 'packages', dir);
    const manifest = JSON.parse(readFileSync(join(packageDir, 'package.json'), 'utf8'));
    if (manifest.private) continue;
    const output = execFileSync('pnpm', ['pack', '--pack-destination', out], {
      cwd: packageDir,
      encoding: 'utf8',
    });
    const tarball = output.trim().split('\n').at(-1);
    packed.set(manifest.name, { manifest, tarball });
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
  if (failed === 0) {
    console.log('check-packages: every package packs clean (publint --strict, attw esm-only)');
  }
  if (!installAndRunEmbed()) failed += 1;
} finally {
  rmSync(out, { recursive: true, force: true });
}
if (failed > 0) process.exit(1);

/**
 * Copies examples/embed to a temporary directory, points its @ostrom/* dependencies at the
 * tarballs, installs it with npm (not pnpm: an embedder's default, and outside the workspace no
 * package can be found by accident), compiles it with its strict tsconfig and runs it. True
 * when all of that succeeded.
 */
function installAndRunEmbed() {
  const started = performance.now();
  const work = mkdtempSync(join(tmpdir(), 'ostrom-embed-check-'));
  const app = join(work, 'app');
  let step = 'copy';
  try {
    const exampleDir = join(root, 'examples', 'embed');
    // A developer's own install or build there must not be carried along.
    const leftBehind = new Set(['node_modules', 'dist', 'package-lock.json']);
    cpSync(exampleDir, app, {
      recursive: true,
      filter: (source) => !leftBehind.has(basename(source)),
    });
    const manifestPath = join(app, 'package.json');
    const manifest = JSON.parse(readFileSync(manifestPath, 'utf8'));
    Object.assign(manifest, tarballDependencies(manifest.dependencies));
    writeFileSync(manifestPath, `${JSON.stringify(manifest, null, 2)}\n`);

    // Only the install is told where the addon is: npm warns of the variable in every command.
    const installEnv = { ...process.env, ...offerWorkspaceSqliteAddon(join(work, 'prebuilds')) };
    for (const [args, env] of [
      [['install', '--no-audit', '--no-fund', '--loglevel=error'], installEnv],
      [['run', '--silent', 'build'], process.env],
      [['start', '--silent'], process.env],
    ]) {
      step = `npm ${args.join(' ')}`;
      const output = execFileSync('npm', args, { cwd: app, env, encoding: 'utf8', stdio: 'pipe' });
      if (args[0] === 'start') process.stdout.write(output);
    }
    const seconds = ((performance.now() - started) / 1000).toFixed(1);
    console.log(
      `check-packages: examples/embed installed from the tarballs and ran (${seconds} s)`,
    );
    return true;
  } catch (error) {
    console.error(
      `examples/embed: ${step} failed\n${error.stdout ?? ''}${error.stderr ?? error.message}`,
    );
    return false;
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

/**
 * The example's dependencies with each @ostrom/* one as `file:` its tarball, and the overrides
 * that make npm take every @ostrom/* package the tarballs depend on (`^0.1.0` in their
 * manifests) from the tarballs too, never from the registry.
 */
function tarballDependencies(dependencies) {
  const direct = Object.keys(dependencies).filter((name) => name.startsWith('@ostrom/'));
  const needed = new Set();
  const visit = (name) => {
    if (needed.has(name)) return;
    const entry = packed.get(name);
    if (entry === undefined) throw new Error(`examples/embed depends on ${name}, not published`);
    needed.add(name);
    for (const dependency of Object.keys(entry.manifest.dependencies ?? {})) {
      if (dependency.startsWith('@ostrom/')) visit(dependency);
    }
  };
  for (const name of direct) visit(name);
  const rewritten = { ...dependencies };
  const overrides = {};
  for (const name of needed) {
    const spec = `file:${packed.get(name).tarball}`;
    // npm refuses an override of a direct dependency unless it names the same spec.
    if (direct.includes(name)) rewritten[name] = spec;
    overrides[name] = spec;
  }
  return { dependencies: rewritten, overrides };
}

/**
 * An embedder's npm install of better-sqlite3 downloads its prebuilt addon from GitHub
 * (prebuild-install) and compiles it from source (minutes) only when that fails. CI reaches the
 * npm registry but not GitHub, so the addon the workspace's own install compiled is offered as
 * that download: a tarball under the prebuild's exact name in a local prebuilds directory.
 * prebuild-install takes it only if the name matches (better-sqlite3's version, the Node ABI,
 * platform and architecture) and it loads; otherwise npm compiles as it would anyway. Returns
 * the environment variables that point prebuild-install there ({} if the workspace has no
 * compiled addon).
 */
function offerWorkspaceSqliteAddon(prebuildsDir) {
  const leasedb = createRequire(join(root, 'packages', 'leasedb', 'package.json'));
  let packageDir;
  try {
    packageDir = dirname(leasedb.resolve('better-sqlite3/package.json'));
  } catch {
    return {};
  }
  const addon = join('build', 'Release', 'better_sqlite3.node');
  if (!existsSync(join(packageDir, addon))) return {};
  const { version } = JSON.parse(readFileSync(join(packageDir, 'package.json'), 'utf8'));
  const { platform, arch } = process;
  const name = `better-sqlite3-v${version}-node-v${process.versions.modules}-${platform}-${arch}`;
  mkdirSync(prebuildsDir, { recursive: true });
  execFileSync('tar', ['-czf', join(prebuildsDir, `${name}.tar.gz`), '-C', packageDir, addon]);
  return { npm_config_better_sqlite3_local_prebuilds: prebuildsDir };
}
