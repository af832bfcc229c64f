import { headlessGlProblem, loadGpuJs } from '#gpujs';

/** gpu.js modes in the order gpu.js itself prefers them; `cpu` (transpiled JavaScript) always runs. */
export const GPU_MODES = ['headlessgl', 'webgl2', 'webgl', 'webasm', 'cpu'] as const;
export type GpuMode = (typeof GPU_MODES)[number];

export interface GpuOptions {
  mode?: GpuMode;
  /** Throw instead of falling back when `mode` cannot run here. */
  strict?: boolean;
  /**
   * Run kernels under gpu.js's async contract: every kernel call returns a promise, and webasm
   * spreads large outputs over worker threads. Read results with `await x.data()`; a synchronous
   * read (or a CPU-path op) on a tensor whose kernel has not run yet throws.
   */
  async?: boolean;
}

const problems = new Map<GpuMode, string | null>();

/** Why `mode` cannot run in this process, or null if it can (probed once per process). */
export function modeProblem(mode: GpuMode): string | null {
  if (!problems.has(mode)) problems.set(mode, probe(mode));
  return problems.get(mode)!;
}

function probe(mode: GpuMode): string | null {
  const gpujs = loadGpuJs();
  switch (mode) {
    case 'headlessgl':
      return headlessGlProblem() ?? (gpujs.GPU.isHeadlessGLSupported ? null : 'gpu.js reports headless-gl unsupported');
    case 'webgl2':
    case 'webgl':
      if (gpujs.GPU.isCanvasSupported) return null;
      // A Web Worker has no HTMLCanvasElement, but gpu.js draws on an OffscreenCanvas there.
      if (gpujs.GPU.isOffscreenCanvasSupported) return offscreenProblem(mode);
      return `${mode} needs a browser canvas (HTMLCanvasElement, or OffscreenCanvas in a Web Worker), which Node lacks (in Node use 'headlessgl')`;
    case 'webasm':
      return gpujs.GPU.isWebAssemblySupported ? null : 'WebAssembly is not available';
    case 'cpu':
      return null;
  }
}

/**
 * Why gpu.js cannot run `mode` on an OffscreenCanvas here (a Web Worker), or null if it can: the
 * context gpu.js itself would ask its OffscreenCanvas for.
 */
function offscreenProblem(mode: 'webgl2' | 'webgl'): string | null {
  // The package compiles without the DOM types.
  const Offscreen = (globalThis as { OffscreenCanvas?: new (w: number, h: number) => { getContext(id: string): unknown } }).OffscreenCanvas;
  if (!Offscreen) return `${mode} needs OffscreenCanvas in a Web Worker, which this one lacks`;
  let context: unknown = null;
  try {
    context = new Offscreen(1, 1).getContext(mode);
  } catch (e) {
    return `${mode}: new OffscreenCanvas(1, 1).getContext('${mode}') threw: ${e instanceof Error ? e.message : String(e)}`;
  }
  return context ? null : `${mode}: OffscreenCanvas.getContext('${mode}') gave no context here (${mode} unavailable or disabled)`;
}

const warned = new Set<string>();

/**
 * The mode to run: the requested one if it runs here, else the best one that does (with one
 * console warning per requested mode naming the reason, or an error under `strict`).
 * Without a request, the best mode that runs, silently.
 */
export function resolveMode(opts: GpuOptions): GpuMode {
  const { mode, strict = false } = opts;
  if (mode !== undefined && !(GPU_MODES as readonly string[]).includes(mode)) {
    throw new Error(`setBackend('gpu'): unknown mode '${String(mode)}'; known: ${GPU_MODES.join(', ')}`);
  }
  if (mode === undefined) return GPU_MODES.find((m) => modeProblem(m) === null)!;
  const problem = modeProblem(mode);
  if (problem === null) return mode;
  if (strict) throw new Error(`setBackend('gpu', { mode: '${mode}', strict: true }): ${mode} cannot run here: ${problem}`);
  const best = GPU_MODES.find((m) => modeProblem(m) === null)!;
  if (!warned.has(mode)) {
    warned.add(mode);
    console.warn(`setBackend('gpu'): mode '${mode}' cannot run here (${problem}); falling back to '${best}'`);
  }
  return best;
}
