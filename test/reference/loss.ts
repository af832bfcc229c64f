/** Cross entropy with PyTorch's F.cross_entropy semantics (mean reduction, ignore_index). */

import { logSoftmax } from './softmax.js';
import type { RefTensor } from './tensor.js';

/**
 * Mean of -log softmax(logits[n])[targets[n]] over the rows that count. A row does not count if
 * its target equals `ignoreIndex` or its `mask` entry is 0; it then leaves both the sum and the
 * denominator. No counted rows gives 0/0 = NaN, as in PyTorch.
 */
export function crossEntropy(logits: RefTensor, targets: number[], opts: { ignoreIndex?: number; mask?: number[] } = {}): number {
  if (logits.shape.length !== 2 || logits.shape[0] !== targets.length) throw new Error('crossEntropy: expected logits [N, C] and N targets');
  const c = logits.shape[1]!;
  const logProbs = logSoftmax(logits, 1);
  let sum = 0;
  let count = 0;
  for (let n = 0; n < targets.length; n++) {
    const t = targets[n]!;
    if (t === opts.ignoreIndex || opts.mask?.[n] === 0) continue;
    if (!Number.isInteger(t) || t < 0 || t >= c) throw new Error(`crossEntropy: target ${t} outside [0, ${c})`);
    sum -= logProbs.data[n * c + t]!;
    count++;
  }
  return sum / count;
}
