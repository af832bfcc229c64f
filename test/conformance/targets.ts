import { afterAll, beforeEach, describe, it } from 'vitest';
import { setBackend, type GpuMode } from '@switch-ts/tensor';
import { modeProblem, poisonArrayPool, setElementwisePath } from '@switch-ts/tensor/testing';
import { requireHeadlessGl } from '../gpu.modes.js';
import { TOLERANCE } from '../tolerance.js';

/**
 * What the conformance suite runs on: a backend, the float dtype its ops are tested in, and what
 * it is held to. Every conformance test file runs its whole body once per target through
 * `describeTargets`, so a backend or mode added to `targets` gets the whole suite.
 */
export interface Target {
  readonly name: string;
  /** Makes this target's backend the active one (run before every test). */
  readonly use: () => void;
  /**
   * The float dtype the target computes in. The gpu backend computes float32 on the device and
   * keeps float64 on the host (where it is the CPU backend's code), so it is tested in float32.
   */
  readonly dtype: 'float32' | 'float64';
  /** Normwise: against the float64 reference on random data; componentwise: at special values (tolerance.ts). */
  readonly tolerance: { readonly normwise: number; readonly componentwise: number };
  /** fast-check runs per property: on the gpu each new shape compiles a kernel, slowly under a software rasterizer. */
  readonly runs: number;
  /** Why the target cannot run in this process, or null. */
  readonly problem: string | null;
  /** A target that cannot run fails the suite instead of being skipped (headlessgl under REQUIRE_HEADLESSGL=1, as CI sets). */
  readonly required: boolean;
  /**
   * Whether float32 subnormals (below 2^-126 in magnitude) survive. GLSL ES 3.00 (§4.5.1) lets an
   * implementation flush them to zero, on input and output of every operation, and Mesa's
   * llvmpipe (headlessgl) does: there a subnormal is held as a zero of its sign.
   */
  readonly subnormals: boolean;
  /**
   * The error bound of pow, relative, at (x, y), where the target's is looser than the
   * componentwise tolerance: GLSL ES 3.00 (§4.5.1) defines pow as exp2(y · log2 x), and allows
   * exp2(t) an error of (3 + 2|t|) ulp, so pow(1e-5, 3) may be off by about 100 ulp (6e-6).
   */
  readonly powTolerance?: (x: number, y: number) => number;
}

/** The gpu.js modes Node can run (webgl and webgl2 need a browser canvas). */
const GPU_TARGET_MODES: GpuMode[] = ['cpu', 'webasm', 'headlessgl'];

const gpuTarget = (mode: GpuMode): Target => ({
  name: `gpu backend, mode '${mode}', float32`,
  // strict: a mode that cannot run must not be tested as whatever mode gpu.js falls back to.
  use: () => setBackend('gpu', { mode, strict: true }),
  dtype: 'float32',
  tolerance: { normwise: TOLERANCE.gpu, componentwise: TOLERANCE.float32Componentwise },
  runs: mode === 'headlessgl' ? 4 : 8,
  problem: modeProblem(mode),
  required: mode === 'headlessgl' && requireHeadlessGl,
  subnormals: mode !== 'headlessgl',
  ...(mode === 'headlessgl' ? { powTolerance: (x: number, y: number) => (3 + 2 * Math.abs(y * Math.log2(Math.abs(x)))) * 2 ** -23 } : {}),
});

/**
 * The CPU backend computes every element in double, so in float32 it only rounds the result. Its
 * kernels take their outputs from a pool of reused arrays; poisoned here, every array starts as
 * NaN (−7 for int32), so an element a kernel forgets to write fails the comparison. In float32
 * the elementwise ops that have wasm SIMD loops run them at every size (by default only outputs
 * of 1024 elements or more do), so the suite's small shapes test them; the JS loops they stand in
 * for are the float64 target's.
 */
const cpuTarget = (dtype: Target['dtype']): Target => ({
  name: `cpu backend, ${dtype}`,
  use: () => {
    setBackend('cpu');
    poisonArrayPool(true);
    setElementwisePath(dtype === 'float32' ? 'wasm' : 'auto');
  },
  dtype,
  tolerance: dtype === 'float64'
    ? { normwise: TOLERANCE.float64, componentwise: TOLERANCE.float64 }
    : { normwise: TOLERANCE.cpuFloat32, componentwise: TOLERANCE.float32Componentwise },
  runs: 50,
  problem: null,
  required: true,
  subnormals: true,
});

export const targets: readonly Target[] = [cpuTarget('float64'), cpuTarget('float32'), ...GPU_TARGET_MODES.map(gpuTarget)];

/**
 * Declares `body` once per target, in a describe block named after the target whose tests start
 * on its backend. A target that cannot run here is skipped with the reason (on stderr too: the
 * default reporter does not name skipped tests), or, if required, fails with it.
 */
export function describeTargets(title: string, body: (target: Target) => void): void {
  for (const target of targets) {
    const name = `${title} [${target.name}]`;
    if (target.problem === null) {
      describe(name, () => {
        beforeEach(target.use);
        afterAll(() => {
          setBackend('cpu');
          poisonArrayPool(false);
          setElementwisePath('auto');
        });
        body(target);
      });
    } else if (target.required) {
      describe(name, () => {
        it('runs here', () => {
          throw new Error(`${target.name} is required here but cannot run: ${target.problem}`);
        });
      });
    } else {
      console.warn(`${name} skipped: ${target.problem}`);
      describe.skip(`${name} skipped: ${target.problem}`, () => body(target));
    }
  }
}

const F32_MIN_NORMAL = 2 ** -126;

/** Rounds float64 values to what the target's dtype holds (subnormals as zeros where it flushes them). */
export function roundTo(target: Target): (values: readonly number[]) => number[] {
  if (target.dtype === 'float64') return (values) => values.slice();
  const flush = (x: number) => (!target.subnormals && Math.abs(x) < F32_MIN_NORMAL ? x * 0 : x);
  return (values) => values.map((x) => flush(Math.fround(x)));
}

/**
 * Random data as the target holds it, for the property tests. float32: rounded, and values below
 * 1e-6 in magnitude set to a zero of their sign, so that products and sums of random data stay clear of float32
 * underflow (which the special-values tests cover on purpose) and measure the arithmetic only.
 * float64: unchanged.
 */
export function representable(target: Target): (values: readonly number[]) => number[] {
  const round = roundTo(target);
  return target.dtype === 'float32' ? (values) => round(values.map((x) => (Math.abs(x) < 1e-6 ? x * 0 : x))) : round;
}
