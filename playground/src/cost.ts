import { Rng, noGrad, profile, tidy } from '@switch-ts/tensor';
import type { LanguageModel } from '../../examples/demo/model.js';
import type { ModelName, TrainKnobs } from './protocol.js';
import { corpusFor, modelsFor, trainShape } from './training.js';

/** What one model costs: parameters stored, parameters one token goes through, forward FLOPs per token. */
export interface ModelCost {
  total: number;
  active: number;
  flopsPerToken: number;
  /** The share of flopsPerToken spent in the FFNs of blocks 1, 3, … (switch layers, or the dense twin's FFNs there). */
  switchFlopsPerToken: number;
}

/** Whole numbers with thousands separators: what the cost table shows and the browser test compares. */
export const count = (v: number): string => Math.round(v).toLocaleString('en');

/**
 * A token goes through every parameter but the experts it is not routed to: of each switch
 * layer's routed experts (equal blocks of W_in and W_out) it uses k of E. Shared experts, the
 * router, attention and embeddings serve every token.
 */
function activeParameters(model: LanguageModel): number {
  const unused = model.switchLayers().reduce((n, layer) => {
    const { routedExperts, routedTopK } = layer.layout;
    const experts = layer.experts.parameters().reduce((a, p) => a + p.size, 0);
    return n + experts * (1 - routedTopK / routedExperts);
  }, 0);
  return model.parameterCount() - unused;
}

/**
 * The live run's two models at these knobs, measured as the demo measures its runs (train.ts
 * `evaluate`): forward FLOPs profiled on one held-out batch, in training mode, divided by its
 * tokens. With padded experts (the default) the FLOPs do not depend on the batch's tokens, only
 * on the capacity: the experts compute all E·C slots, the empty ones too.
 */
export function modelCosts(knobs: TrainKnobs): Record<ModelName, ModelCost> {
  // One tidy frees the models' weights and the batch along with the intermediates: only numbers leave.
  return noGrad(() => tidy(() => {
    const corpus = corpusFor(knobs);
    const models = modelsFor(knobs, corpus.vocabSize);
    const batch = corpus.batch(trainShape.batchSize, trainShape.model.seqLen, new Rng(knobs.seed + 2), true);
    const tokens = batch.groups.length;
    const cost = (model: LanguageModel): ModelCost => {
      let switchFlops = 0;
      const { flops } = profile(() => { switchFlops = model.forward(batch.inputs).switchFlops; });
      return { total: model.parameterCount(), active: activeParameters(model), flopsPerToken: flops / tokens, switchFlopsPerToken: switchFlops / tokens };
    };
    return { switch: cost(models.switch), dense: cost(models.dense) };
  }));
}
