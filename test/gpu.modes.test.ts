import { execFileSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');

/** modeProblem(mode) in a fresh Node process, after the module `preamble` has run. */
function modeProblemAfter(preamble: string, mode: string): string {
  const probe = `import { modeProblem } from '@switch-ts/tensor/testing';
    console.log(modeProblem(${JSON.stringify(mode)}));`;
  return execFileSync(process.execPath, [
    '--conditions=development', '--import', 'tsx',
    '--import', `data:text/javascript,${encodeURIComponent(preamble)}`,
    '--input-type=module', '-e', probe,
  ], { cwd: root, encoding: 'utf8' }).trim();
}

/** modeProblem('headlessgl') in a fresh Node process in which requiring 'gl' throws `error`. */
function headlessGlProblemWhenGlThrows(error: string): string {
  const failGl = `import Module from 'node:module';
    const load = Module._load;
    Module._load = function (request, ...rest) {
      if (request === 'gl') throw new Error(${JSON.stringify(error)});
      return load.call(this, request, ...rest);
    };`;
  return modeProblemAfter(failGl, 'headlessgl');
}

/**
 * A Web Worker as gpu.js's GPU.isOffscreenCanvasSupported sees one (Worker and OffscreenCanvas,
 * no HTMLCanvasElement), whose OffscreenCanvas gives a context for `contexts` only.
 */
function workerWithContexts(contexts: string[]): string {
  return `globalThis.Worker = class {};
    globalThis.OffscreenCanvas = class { getContext(id) { return ${JSON.stringify(contexts)}.includes(id) ? {} : null; } };`;
}

describe('gpu modes: why headlessgl cannot run', () => {
  it("names the error that loading 'gl' gave (its first line), and keeps the hint", () => {
    const problem = headlessGlProblemWhenGlThrows('Could not locate the bindings file. Tried:\n → /x/build/webgl.node');
    expect(problem).toContain('Could not locate the bindings file. Tried:');
    expect(problem).not.toContain('/x/build/webgl.node');
    expect(problem).toContain('libx11-dev');
  });
});

describe('gpu modes: webgl2 and webgl in a Web Worker (OffscreenCanvas)', () => {
  it('run where the OffscreenCanvas gives their context, and say so where it does not', () => {
    const webgl2Only = workerWithContexts(['webgl2']);
    expect(modeProblemAfter(webgl2Only, 'webgl2')).toBe('null');
    expect(modeProblemAfter(webgl2Only, 'webgl')).toBe("webgl: OffscreenCanvas.getContext('webgl') gave no context here (webgl unavailable or disabled)");
  });

  it('in Node (no canvas of either kind) stay refused, pointing to headlessgl', () => {
    expect(modeProblemAfter('', 'webgl2')).toBe(
      "webgl2 needs a browser canvas (HTMLCanvasElement, or OffscreenCanvas in a Web Worker), which Node lacks (in Node use 'headlessgl')");
  });
});
