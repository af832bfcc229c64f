import { builtinModules } from 'node:module';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build, type Plugin } from 'esbuild';
import { describe, expect, it } from 'vitest';

// The main entries must bundle for a browser as they are: no stubs, aliases or polyfills. Node-only
// code lives behind `@switch-ts/tensor/node`, `@switch-ts/switch/parallel` and the `node`
// condition of the tensor package's `#gpujs` import.

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const builtins = new Set(builtinModules);

/** Records every import of a Node builtin (and lets the build go on, so that all of them are listed). */
function nodeImports(found: string[]): Plugin {
  return {
    name: 'node-imports',
    setup(b) {
      b.onResolve({ filter: /.*/ }, (args) => {
        if (!args.path.startsWith('node:') && !builtins.has(args.path.split('/')[0]!)) return undefined;
        found.push(`${args.path} imported by ${relative(root, args.importer)}`);
        return { path: args.path, external: true };
      });
    },
  };
}

describe.each(['@switch-ts/tensor', '@switch-ts/switch'])('%s, bundled for the browser', (entry) => {
  it('imports no Node builtin, and bundles', async () => {
    const found: string[] = [];
    const result = await build({
      stdin: { contents: `export * from '${entry}';`, resolveDir: root },
      bundle: true,
      platform: 'browser',
      format: 'esm',
      // The workspace's sources, as Vite's dev server resolves them; built dist/ has the same imports.
      conditions: ['development'],
      write: false,
      logLevel: 'silent',
      plugins: [nodeImports(found)],
    });
    expect(found).toEqual([]);
    expect(result.errors).toEqual([]);
    expect(result.outputFiles[0]!.text).toContain('gpu-browser.js');
  });
});
