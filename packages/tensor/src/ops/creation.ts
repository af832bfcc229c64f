import { checkInt32, type DType } from '../dtype.js';
import { checkAllocation } from '../engine.js';
import type { Rng } from '../random.js';
import { sizeOf } from '../shape.js';
import { tensorFrom, type Tensor } from '../tensor.js';
import { requireTensor, runKernel } from './kernel.js';

/** Constructors. Like the ops, they allocate through the active backend. */

/** A tensor of `shape` with every element `value`, for the constructor `op` (named in errors). */
export function filled(op: string, shape: readonly number[], value: number, dtype: DType): Tensor {
  checkAllocation(op, shape, dtype);
  if (typeof value !== 'number') throw new Error(`${op}: value must be a number, got ${typeof value}`);
  if (dtype === 'int32') checkInt32(op, [value], []);
  return runKernel('full', 'fill', { inputs: [], attrs: { value }, shape, dtype, flops: 0 });
}

export function full(shape: readonly number[], value: number, dtype: DType = 'float32'): Tensor {
  return filled('full', shape, value, dtype);
}

export function zeros(shape: readonly number[], dtype: DType = 'float32'): Tensor {
  return filled('zeros', shape, 0, dtype);
}

export function ones(shape: readonly number[], dtype: DType = 'float32'): Tensor {
  return filled('ones', shape, 1, dtype);
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
  checkAllocation('arange', [n], dtype);
  return tensorFrom('arange', Array.from({ length: n }, (_, i) => lo + i * step), { dtype });
}

/**
 * A tensor of `shape` whose elements are `draw()` in row-major order, for `op` (named in errors):
 * the shape and dtype are checked before any value is drawn.
 */
export function sampled(op: string, shape: readonly number[], dtype: DType, draw: () => number): Tensor {
  checkAllocation(op, shape, dtype);
  return tensorFrom(op, Array.from({ length: sizeOf(shape) }, draw), { shape, dtype });
}

/** Uniform samples in [low, high). */
export function rand(shape: readonly number[], rng: Rng, opts: { low?: number; high?: number; dtype?: DType } = {}): Tensor {
  const { low = 0, high = 1, dtype = 'float32' } = opts;
  return sampled('rand', shape, dtype, () => rng.uniform(low, high));
}

/** Normal samples with the given mean and standard deviation. */
export function randn(shape: readonly number[], rng: Rng, opts: { mean?: number; std?: number; dtype?: DType } = {}): Tensor {
  const { mean = 0, std = 1, dtype = 'float32' } = opts;
  return sampled('randn', shape, dtype, () => mean + std * rng.normal());
}
