import { Rng } from '../random.js';
import type { Tensor } from '../tensor.js';
import { mul } from './elementwise.js';
import { requireFloat, requireTensor } from './kernel.js';
import { tensor } from '../tensor.js';

/**
 * Inverted dropout: zeroes each element with probability p and scales survivors by 1/(1−p), so
 * the expected value is unchanged and evaluation needs no rescaling. The mask comes from `rng`,
 * so a seeded run is reproducible. The gradient flows through the same mask.
 */
export function dropout(x: Tensor, p: number, rng: Rng): Tensor {
  requireTensor('dropout', x);
  requireFloat('dropout', x);
  if (!(p >= 0 && p < 1)) throw new Error(`dropout: p must be in [0, 1), got ${p}`);
  if (!(rng instanceof Rng)) throw new Error('dropout: needs an Rng for the mask (new Rng(seed))');
  if (p === 0) return x;
  const scale = 1 / (1 - p);
  const mask = new Float64Array(x.size);
  for (let i = 0; i < mask.length; i++) mask[i] = rng.next() < p ? 0 : scale;
  return mul(x, tensor(mask, { shape: x.shape, dtype: x.dtype }));
}
