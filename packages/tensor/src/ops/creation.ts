import { isDType, type DType } from '../dtype.js';
import type { Rng } from '../random.js';
import { checkShape, sizeOf } from '../shape.js';
import { tensor, type Tensor } from '../tensor.js';
import { requireTensor, runKernel } from './kernel.js';

/** Constructors. Like the ops, they allocate through the active backend. */

export function full(shape: readonly number[], value: number, dtype: DType = 'float32'): Tensor {
  checkShape('full', shape);
  if (!isDType(dtype)) throw new Error(`full: unknown dtype '${String(dtype)}'`);
  return runKernel('full', 'fill', { inputs: [], attrs: { value }, shape, dtype, flops: 0 });
}

export function zeros(shape: readonly number[], dtype: DType = 'float32'): Tensor {
  return full(shape, 0, dtype);
}

export function ones(shape: readonly number[], dtype: DType = 'float32'): Tensor {
  return full(shape, 1, dtype);
}

export function zerosLike(x: Tensor): Tensor {
  requireTensor('zerosLike', x);
  return zeros(x.shape, x.dtype);
}

export function onesLike(x: Tensor): Tensor {
  requireTensor('onesLike', x);
  return ones(x.shape, x.dtype);
}

/** Values start, start+step, … below stop (like torch.arange). */
export function arange(start: number, stop?: number, step = 1, dtype: DType = 'int32'): Tensor {
  const [lo, hi] = stop === undefined ? [0, start] : [start, stop];
  if (step === 0 || !Number.isFinite(step)) throw new Error(`arange: step must be finite and non-zero, got ${step}`);
  const n = Math.max(0, Math.ceil((hi - lo) / step));
  return tensor(Array.from({ length: n }, (_, i) => lo + i * step), { dtype });
}

/** Uniform samples in [low, high). */
export function rand(shape: readonly number[], rng: Rng, opts: { low?: number; high?: number; dtype?: DType } = {}): Tensor {
  checkShape('rand', shape);
  const { low = 0, high = 1, dtype = 'float32' } = opts;
  return tensor(Array.from({ length: sizeOf(shape) }, () => rng.uniform(low, high)), { shape, dtype });
}

/** Normal samples with the given mean and standard deviation. */
export function randn(shape: readonly number[], rng: Rng, opts: { mean?: number; std?: number; dtype?: DType } = {}): Tensor {
  checkShape('randn', shape);
  const { mean = 0, std = 1, dtype = 'float32' } = opts;
  return tensor(Array.from({ length: sizeOf(shape) }, () => mean + std * rng.normal()), { shape, dtype });
}
