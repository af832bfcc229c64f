import { createRequire } from 'node:module';

/**
 * gpu.js in Node, where package.json's `#gpujs` import (condition `node`) leads. Loaded on first
 * use with require, not imported: gpu.js's Node entry loads the native `gl` package as it loads,
 * which a CPU-only user should not pay for. Browsers get gpujs.browser.ts instead.
 */
const require = createRequire(import.meta.url);

export function loadGpuJs(): typeof import('gpu.js') {
  return require('gpu.js') as typeof import('gpu.js');
}

/** Why headlessgl cannot run here, or null if it can. `gl` is gpu.js's optional dependency. */
export function headlessGlProblem(): string | null {
  let createContext: (w: number, h: number) => unknown;
  try {
    createContext = createRequire(require.resolve('gpu.js'))('gl') as typeof createContext;
  } catch (e) {
    // The first line only: a failed native load goes on to list every path it tried.
    const error = (e instanceof Error ? e.message : String(e)).split('\n')[0];
    return `the optional native package 'gl' did not load: ${error} (its build needs libx11-dev libxi-dev libxext-dev pkg-config, ` +
      "Node's headers (npm_config_nodedir) and gl under pnpm's allowBuilds; see \"GPU in Node\" in the README)";
  }
  if (createContext(1, 1) === null) return "the 'gl' package loaded but could not create a WebGL context (no X display: run under xvfb-run -a)";
  return null;
}
