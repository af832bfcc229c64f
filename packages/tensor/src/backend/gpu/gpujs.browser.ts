import * as gpujs from 'gpu.js';

/**
 * gpu.js outside Node, where package.json's `#gpujs` import leads by default: an ESM import that
 * bundlers resolve to gpu.js's browser build (its package.json `browser` field). Node gets
 * gpujs.node.ts instead.
 */
export function loadGpuJs(): typeof import('gpu.js') {
  return gpujs;
}

export function headlessGlProblem(): string | null {
  return "headlessgl runs in Node only (the native 'gl' package); in a browser use 'webgl2'";
}
