/** NumPy matmul semantics as a naive triple loop in float64. */

import { broadcastShape } from './elementwise.js';
import { type RefTensor, broadcastOffset, size, unravel } from './tensor.js';

export function matmul(a: RefTensor, b: RefTensor): RefTensor {
  if (a.shape.length === 0 || b.shape.length === 0) throw new Error('matmul: scalars are not allowed');
  // A vector becomes a one-row (left) or one-column (right) matrix, and that dim is dropped at the end.
  const aShape = a.shape.length === 1 ? [1, a.shape[0]!] : a.shape;
  const bShape = b.shape.length === 1 ? [b.shape[0]!, 1] : b.shape;
  const m = aShape[aShape.length - 2]!, k = aShape[aShape.length - 1]!;
  const k2 = bShape[bShape.length - 2]!, n = bShape[bShape.length - 1]!;
  if (k !== k2) throw new Error(`matmul: inner dims differ: [${a.shape}] @ [${b.shape}]`);

  const aBatch = aShape.slice(0, -2), bBatch = bShape.slice(0, -2);
  const batch = broadcastShape(aBatch, bBatch);
  const data = new Array<number>(size(batch) * m * n);
  for (let t = 0; t < size(batch); t++) {
    const index = unravel(t, batch);
    const aBase = broadcastOffset(index, aBatch) * m * k;
    const bBase = broadcastOffset(index, bBatch) * k * n;
    for (let i = 0; i < m; i++) {
      for (let j = 0; j < n; j++) {
        let sum = 0;
        for (let p = 0; p < k; p++) sum += a.data[aBase + i * k + p]! * b.data[bBase + p * n + j]!;
        data[t * m * n + i * n + j] = sum;
      }
    }
  }

  const shape = [...batch];
  if (a.shape.length > 1) shape.push(m);
  if (b.shape.length > 1) shape.push(n);
  return { shape, data };
}
