import type { FloatDType } from '../dtype.js';
import { gather } from '../ops/indexing.js';
import type { Rng } from '../random.js';
import type { Tensor } from '../tensor.js';
import { truncatedNormal } from './init.js';
import { Module } from './module.js';

/**
 * A lookup table: forward(indices) takes rows of weight [numEmbeddings, embeddingDim] for int32
 * indices of any shape, giving [...indices.shape, embeddingDim]. Rows start with std
 * sqrt(initScale) (default 1, like torch.nn.Embedding and Mesh TensorFlow), truncated at 2σ.
 */
export class Embedding extends Module {
  readonly weight: Tensor;

  constructor(
    readonly numEmbeddings: number,
    readonly embeddingDim: number,
    opts: { rng: Rng; dtype?: FloatDType; initScale?: number },
  ) {
    super();
    const { rng, dtype = 'float32', initScale = 1 } = opts;
    this.weight = this.param('weight', truncatedNormal([numEmbeddings, embeddingDim], { scale: initScale, fanIn: 1, rng, dtype }));
  }

  forward(indices: Tensor): Tensor {
    return gather(this.weight, indices, 0);
  }
}
