import { Rng } from '@switch-ts/tensor';
import { syntheticCorpus } from '../../examples/demo/data.js';
import { LanguageModel, type FFNConfig } from '../../examples/demo/model.js';
import type { ModelName, TrainKnobs } from './protocol.js';

/** The live run's sizes: the demo's model, small enough to step several times a second on a CPU. */
export const trainShape = {
  model: { seqLen: 16, dModel: 32, numHeads: 2, numLayers: 2, dFF: 64 },
  batchSize: 8,
  corpus: { languages: 4, words: 24, noise: 0.05 },
} as const;

export const corpusFor = (knobs: TrainKnobs) => syntheticCorpus({ ...trainShape.corpus, seed: knobs.seed });
/** Draws the batches, the same for both models. */
export const batchRngFor = (knobs: TrainKnobs) => new Rng(knobs.seed + 1);

/**
 * Switch (a SwitchLayer every other block) and its dense twin: same seed, and FLOPs per token equal
 * up to the router and the capacity slack (the page's cost table shows both).
 */
export function modelsFor(knobs: TrainKnobs, vocabSize: number): Record<ModelName, LanguageModel> {
  const switchFFN: FFNConfig = {
    kind: 'switch', numExperts: knobs.numExperts, topK: knobs.topK, capacityFactor: knobs.capacityFactor, balanceCoef: knobs.balanceCoef,
    zLossCoef: knobs.zLossCoef,
  };
  const model = (ffn: FFNConfig) => new LanguageModel({ ...trainShape.model, vocabSize, ffn, seed: knobs.seed });
  return { switch: model(switchFFN), dense: model({ kind: 'dense' }) };
}
