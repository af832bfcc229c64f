import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';

// The workspace resolves '@switch-ts/*' to src/*.ts through the `development` export condition;
// the published package must not, or bundlers and `node --conditions=development` load
// TypeScript from node_modules. pnpm swaps in `publishConfig.exports` (and `.imports`, the tensor
// package's `#gpujs`) when it packs.

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const out = mkdtempSync(join(tmpdir(), 'switch-ts-pack-'));
afterAll(() => rmSync(out, { recursive: true, force: true }));

/** The package.json inside the tarball that `pnpm pack` makes of packages/<dir>. */
function packedManifest(dir: string): { exports: unknown; imports?: unknown } {
  const tarball = join(out, `${dir}.tgz`);
  execFileSync('pnpm', ['pack', '--out', tarball], { cwd: join(root, 'packages', dir), stdio: 'ignore' });
  return JSON.parse(execFileSync('tar', ['-xzOf', tarball, 'package/package.json'], { encoding: 'utf8' }));
}

/** Every [condition path, target] of an `exports` or `imports` field. */
function targets(exports: unknown, path: string): [string, string][] {
  if (typeof exports === 'string') return [[path, exports]];
  if (exports === null || typeof exports !== 'object') return [];
  return Object.entries(exports).flatMap(([key, value]) => targets(value, `${path}[${JSON.stringify(key)}]`));
}

describe.each(['tensor', 'switch'])('packed @switch-ts/%s', (dir) => {
  it('exports and imports only built JavaScript and declarations, never TypeScript sources', () => {
    const manifest = packedManifest(dir);
    const exported = [...targets(manifest.exports, 'exports'), ...targets(manifest.imports, 'imports')];
    expect(exported.length).toBeGreaterThan(0);
    expect(exported.filter(([, target]) => /(?<!\.d)\.[cm]?tsx?$/.test(target))).toEqual([]);
    expect(exported.filter(([path]) => path.includes('"development"'))).toEqual([]);
  });
});
