/** Elementwise maps with NumPy broadcasting, and the scalar activations, from their definitions. */

import { type RefTensor, broadcastOffset, size, unravel } from './tensor.js';

/** NumPy rule: align on the right; each pair of dims must be equal or contain a 1. */
export function broadcastShape(a: number[], b: number[]): number[] {
  const rank = Math.max(a.length, b.length);
  const out: number[] = [];
  for (let i = 0; i < rank; i++) {
    // Missing leading dims behave as 1.
    const da = a[a.length - rank + i] ?? 1;
    const db = b[b.length - rank + i] ?? 1;
    if (da !== db && da !== 1 && db !== 1) throw new Error(`cannot broadcast [${a}] with [${b}]`);
    out.push(da === 1 ? db : da);
  }
  return out;
}

export function binary(a: RefTensor, b: RefTensor, f: (x: number, y: number) => number): RefTensor {
  const shape = broadcastShape(a.shape, b.shape);
  const data = new Array<number>(size(shape));
  for (let i = 0; i < data.length; i++) {
    const index = unravel(i, shape);
    data[i] = f(a.data[broadcastOffset(index, a.shape)]!, b.data[broadcastOffset(index, b.shape)]!);
  }
  return { shape, data };
}

export function unary(a: RefTensor, f: (x: number) => number): RefTensor {
  return { shape: a.shape.slice(), data: a.data.map((x) => f(x)) };
}

/**
 * The tanh approximation (Hendrycks & Gimpel), which is what GPT-2/T5-style models use:
 * 0.5·x·(1 + tanh u), u = √(2/π)·(x + 0.044715·x³), written as x·σ(2u) (1 + tanh u = 2σ(2u)),
 * since 1 + tanh u cancels where tanh u ≈ −1 (x < −4); σ(z) = 1/(1 + e^−z), as e^z/(1 + e^z)
 * for z < 0, where e^−z would overflow.
 */
export function gelu(x: number): number {
  const z = 2 * Math.sqrt(2 / Math.PI) * (x + 0.044715 * x * x * x);
  return z >= 0 ? x / (1 + Math.exp(-z)) : (x * Math.exp(z)) / (1 + Math.exp(z));
}

export function sigmoid(x: number): number {
  return 1 / (1 + Math.exp(-x));
}

/**
 * max(x, 0) under IEEE 754-2019 maximum, like the library's maximum: NaN propagates (as in NumPy
 * and PyTorch), and relu(−0) is +0. PyTorch 1.13's relu (clamp_min) keeps −0 as −0; both are
 * zeros, and +0 is what maximum(−0, 0) gives here.
 */
export function relu(x: number): number {
  return Math.max(x, 0);
}

/**
 * The sign as −1, 0 or 1, keeping the sign of a zero, and NaN for NaN (NumPy's np.sign, IEEE's
 * copysign-like rule). PyTorch 1.13's torch.sign gives 0 for NaN; NaN propagates here.
 */
export function sign(x: number): number {
  return Math.sign(x);
}

/**
 * x^y as IEEE 754 (C99 Annex F), NumPy and PyTorch define it. JavaScript's Math.pow agrees except
 * that it gives NaN for pow(1, y) with y NaN or infinite, and for pow(−1, ±∞), where the standard
 * gives 1 (1 raised to anything is 1; (−1)^∞ counts as an even power).
 */
export function pow(x: number, y: number): number {
  if (x === 1 || (x === -1 && !Number.isFinite(y) && !Number.isNaN(y))) return 1;
  return Math.pow(x, y);
}
