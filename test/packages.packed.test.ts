import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';

// The workspace resolves '@switch-ts/*' to src/*.ts through the `development` export condition;
// the published package must not, or bundlers and `node --conditions=development` load
// TypeScript from node_modules. pnpm swaps in `publishConfig.exports` when it packs.

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const out = mkdtempSync(join(tmpdir(), 'switch-ts-pack-'));
afterAll(() => rmSync(out, { recursive: true, force: true }));

/** The package.json inside the tarball that `pnpm pack` makes of packages/<dir>. */
function packedManifest(dir: string): { exports: unknown } {
  const tarball = join(out, `${dir}.tgz`);
  execFileSync('pnpm', ['pack', '--out', tarball], { cwd: join(root, 'packages', dir), stdio: 'ignore' });
  return JSON.parse(execFileSync('tar', ['-xzOf', tarball, 'package/package.json'], { encoding: 'utf8' }));
}

/** Every [condition path, target] of an `exports` field. */
function targets(exports: unknown, path = 'exports'): [string, string][] {
  if (typeof exports === 'string') return [[path, exports]];
  if (exports === null || typeof exports !== 'object') return [];
  return Object.entries(exports).flatMap(([key, value]) => targets(value, `${path}[${JSON.stringify(key)}]`));
}

describe.each(['tensor', 'switch'])('packed @switch-ts/%s', (dir) => {
  it('exports only built JavaScript and declarations, never TypeScript sources', () => {
    const exported = targets(packedManifest(dir).exports);
    expect(exported.length).toBeGreaterThan(0);
    expect(exported.filter(([, target]) => /(?<!\.d)\.[cm]?tsx?$/.test(target))).toEqual([]);
    expect(exported.filter(([path]) => path.includes('"development"'))).toEqual([]);
  });
});
