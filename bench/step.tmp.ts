import { Adam, Rng, clipGradNorm, crossEntropy, tidy } from '@switch-ts/tensor';
import { LanguageModel } from '../examples/demo/model.js';
import { syntheticCorpus } from '../examples/demo/data.js';
const size = { dModel: 32, numHeads: 2, numLayers: 2, dFF: 32, seqLen: 16 };
const corpus = syntheticCorpus({ languages: 16, words: 64, noise: 0.05, seed: 0 });
const model = new LanguageModel({ ...size, vocabSize: corpus.vocabSize, ffn: { kind: 'switch', numExperts: 8, topK: 1, capacityFactor: 1.25, balanceCoef: 0.01 }, seed: 0 } as any);
const opt = new Adam(model.parameters(), { lr: 1e-3 });
const rng = new Rng(1);
const times: number[] = [];
for (let s = 0; s < Number(process.argv[2] ?? 60); s++) {
  const batch = corpus.batch(32, size.seqLen, rng);
  const t0 = performance.now();
  tidy(() => {
    opt.zeroGrad();
    const { logits, auxLoss } = model.forward(batch.inputs);
    const ce = crossEntropy(logits, batch.targets);
    (auxLoss ? ce.add(auxLoss) : ce).backward();
    clipGradNorm(model.parameters(), 1);
    opt.step();
  });
  times.push(performance.now() - t0);
  batch.inputs.dispose(); batch.targets.dispose();
}
times.sort((a, b) => a - b);
console.log('median ms', times[Math.floor(times.length / 2)]!.toFixed(2), 'p25', times[Math.floor(times.length / 4)]!.toFixed(2));
