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

/** The tanh approximation (Hendrycks & Gimpel), which is what GPT-2/T5-style models use. */
export function gelu(x: number): number {
  return 0.5 * x * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (x + 0.044715 * x ** 3)));
}

export function sigmoid(x: number): number {
  return 1 / (1 + Math.exp(-x));
}

export function relu(x: number): number {
  return x > 0 ? x : 0;
}
