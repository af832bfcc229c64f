import { describe, expect, it } from 'vitest';
import {
  Adam, AdamW, Dropout, Linear, Module, Rng, SGD, clipGradNorm, crossEntropy, noGrad, tensor, tidy,
  type Optimizer, type Tensor,
} from '@switch-ts/tensor';

class MLP extends Module {
  readonly layers: [Linear, Linear];
  readonly drop: Dropout;

  constructor(width: number, rng: Rng, dropout = 0) {
    super();
    this.layers = this.module('layers', [new Linear(2, width, { rng }), new Linear(width, 2, { rng })]);
    this.drop = this.module('drop', new Dropout(dropout, rng.fork()));
  }

  forward(x: Tensor): Tensor {
    return this.layers[1].forward(this.drop.forward(this.layers[0].forward(x).relu()));
  }
}

const xor = { x: tensor([[0, 0], [0, 1], [1, 0], [1, 1]]), y: tensor([0, 1, 1, 0], { dtype: 'int32' }) };

/** Trains `model` full-batch on (x, y) and returns the loss at every step. */
function train(model: MLP, opt: Optimizer, data: { x: Tensor; y: Tensor }, steps: number, maxNorm?: number): number[] {
  const losses: number[] = [];
  for (let i = 0; i < steps; i++) {
    tidy(() => {
      opt.zeroGrad();
      const loss = crossEntropy(model.forward(data.x), data.y);
      loss.backward();
      if (maxNorm !== undefined) clipGradNorm(model.parameters(), maxNorm);
      opt.step();
      losses.push(loss.item());
    });
  }
  return losses;
}

describe('training an MLP', () => {
  const optimizers: [string, (m: MLP) => Optimizer][] = [
    ['Adam', (m) => new Adam(m.parameters(), { lr: 0.05 })],
    ['SGD with momentum', (m) => new SGD(m.parameters(), { lr: 0.1, momentum: 0.9 })],
  ];

  it.each(optimizers)('%s fits XOR: the loss falls tenfold and every point is classified', (_, makeOptimizer) => {
    const model = new MLP(16, new Rng(0));
    const losses = train(model, makeOptimizer(model), xor, 300);
    expect(losses.at(-1)!).toBeLessThan(losses[0]! / 10);
    const predicted = noGrad(() => model.forward(xor.x).argmax(1).toArray());
    expect(predicted).toEqual(xor.y.toArray());
  });

  /** A seeded run with everything that draws randomness or reorders arithmetic: init, dropout, AdamW, clipping. */
  function seededRun(seed: number): Map<string, Float32Array> {
    const rng = new Rng(seed);
    const points = Array.from({ length: 32 }, () => [rng.uniform(-1, 1), rng.uniform(-1, 1)]);
    const data = { x: tensor(points), y: tensor(points.map(([a, b]) => (a! * b! > 0 ? 1 : 0)), { dtype: 'int32' }) };
    const model = new MLP(8, rng.fork(), 0.2);
    train(model, new AdamW(model.parameters(), { lr: 0.01, weightDecay: 0.1 }), data, 20, 1);
    return new Map([...model.namedParameters()].map(([name, p]) => [name, new Float32Array(p.dataSync())]));
  }

  it('is bit-identical for the same seed, parameter by parameter', () => {
    const a = seededRun(42), b = seededRun(42);
    expect([...a.keys()]).toEqual(['layers.0.weight', 'layers.0.bias', 'layers.1.weight', 'layers.1.bias']);
    for (const [name, values] of a) expect(b.get(name), name).toEqual(values);
  });

  it('differs for a different seed', () => {
    const a = seededRun(42), b = seededRun(43);
    expect([...a].some(([name, values]) => !b.get(name)!.every((v, i) => v === values[i]))).toBe(true);
  });
});
