import type { GPU, IKernelRunShortcut, Texture } from 'gpu.js';
import { formulaFunctions } from '../formulas.js';
import { loadGpuJs } from '#gpujs';
import type { GpuMode } from './modes.js';

/** What a kernel returns with pipeline on: a texture on GL, a fresh Float32Array on cpu and webasm. */
export type DeviceArray = Texture | Float32Array;
/** A kernel's result: under gpu.js's async contract, a promise of it. */
export type Device = DeviceArray | Promise<DeviceArray>;
export type KernelArg = DeviceArray | number;
export const isPending = (d: Device): d is Promise<DeviceArray> => d instanceof Promise;

/**
 * One gpu.js instance and every kernel compiled on it, keyed by op and shapes (and the dtypes
 * of their arguments), so a training loop compiles each kernel once. All kernels run in
 * pipeline mode with immutable outputs: each call returns a new texture that stays on the device
 * until `free` deletes it. With `async`, kernels take gpu.js's async contract (`asyncMode`): each
 * call returns a promise, and webasm runs outputs of 4,096 cells or more on its worker threads.
 */
export class KernelCache {
  readonly gpu: GPU;
  private readonly kernels = new Map<string, IKernelRunShortcut>();
  /** Kernels compiled so far (a cache miss compiles one). */
  compiles = 0;
  /** The gpu.js mode the kernels really run in, read from the first compiled kernel. */
  mode: GpuMode;

  constructor(requested: GpuMode, readonly async: boolean) {
    const { GPU } = loadGpuJs();
    this.gpu = new GPU({ mode: requested });
    // The elementwise formulas, shared with the CPU backend; kernels call them as op_<name>.
    for (const f of formulaFunctions) {
      this.gpu.addFunction(f.source as never, { argumentTypes: Object.fromEntries(f.params.map((p) => [p, 'Number'])), returnType: 'Number' } as never);
    }
    this.mode = requested;
    const probe = this.get('probe', () => 'function (a) { return a[this.thread.x]; }', 1);
    // The call builds the kernel synchronously under either contract; its value is not needed.
    void Promise.resolve(probe(new Float32Array([1]))).catch(() => {});
    this.mode = modeOf(probe);
  }

  /** The kernel for `key`, compiling `source()` with output `output` (x first, as gpu.js has it) on a miss. */
  get(key: string, source: () => string, output: number | readonly number[], argumentTypes?: Record<string, string>): IKernelRunShortcut {
    const fullKey = `${key}|${output}`;
    let k = this.kernels.get(fullKey);
    if (!k) {
      k = this.gpu.createKernel(source(), {
        output: typeof output === 'number' ? [output] : [...output],
        pipeline: true,
        immutable: true,
        precision: 'single',
        tactic: 'precision',
        asyncMode: this.async,
        ...(argumentTypes ? { argumentTypes } : {}),
      } as never);
      this.kernels.set(fullKey, k);
      this.compiles++;
    }
    return k;
  }

  get size(): number {
    return this.kernels.size;
  }

  destroy(): void {
    for (const k of this.kernels.values()) k.destroy();
    this.kernels.clear();
    void this.gpu.destroy();
  }
}

/** The mode a kernel runs in, from its class (gpu.js reports headlessgl kernels as mode 'gpu'). */
function modeOf(k: IKernelRunShortcut): GpuMode {
  const gpujs = loadGpuJs() as unknown as Record<string, unknown>;
  const ctor = (k as unknown as { kernel: { constructor: unknown } }).kernel.constructor;
  const classes: [string, GpuMode][] = [
    ['HeadlessGLKernel', 'headlessgl'], ['WebGL2Kernel', 'webgl2'], ['WebGLKernel', 'webgl'],
    ['WebAssemblyKernel', 'webasm'], ['CPUKernel', 'cpu'],
  ];
  const found = classes.find(([name]) => gpujs[name] === ctor);
  if (!found) throw new Error(`gpu backend: unknown gpu.js kernel class ${(ctor as { name?: string }).name}`);
  return found[1];
}
