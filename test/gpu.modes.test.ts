import { execFileSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');

/** modeProblem('headlessgl') in a fresh Node process in which requiring 'gl' throws `error`. */
function headlessGlProblemWhenGlThrows(error: string): string {
  const failGl = `import Module from 'node:module';
    const load = Module._load;
    Module._load = function (request, ...rest) {
      if (request === 'gl') throw new Error(${JSON.stringify(error)});
      return load.call(this, request, ...rest);
    };`;
  const probe = `import { modeProblem } from '@switch-ts/tensor/testing';
    console.log(modeProblem('headlessgl'));`;
  return execFileSync(process.execPath, [
    '--conditions=development', '--import', 'tsx',
    '--import', `data:text/javascript,${encodeURIComponent(failGl)}`,
    '--input-type=module', '-e', probe,
  ], { cwd: root, encoding: 'utf8' }).trim();
}

describe('gpu modes: why headlessgl cannot run', () => {
  it("names the error that loading 'gl' gave (its first line), and keeps the hint", () => {
    const problem = headlessGlProblemWhenGlThrows('Could not locate the bindings file. Tried:\n → /x/build/webgl.node');
    expect(problem).toContain('Could not locate the bindings file. Tried:');
    expect(problem).not.toContain('/x/build/webgl.node');
    expect(problem).toContain('libx11-dev');
  });
});
