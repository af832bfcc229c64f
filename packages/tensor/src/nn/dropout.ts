import { dropout } from '../ops/dropout.js';
import type { Rng } from '../random.js';
import type { Tensor } from '../tensor.js';
import { Module } from './module.js';

/** Inverted dropout (see ops/dropout.ts) in training mode; the identity in evaluation mode. */
export class Dropout extends Module {
  constructor(readonly p: number, private readonly rng: Rng) {
    super();
    // Checked here too, so that a bad rate fails where the model is built, not at its first step.
    if (!(p >= 0 && p < 1)) throw new Error(`Dropout: p must be in [0, 1), got ${p}`);
  }

  forward(x: Tensor): Tensor {
    return this.training ? dropout(x, this.p, this.rng) : x;
  }
}
