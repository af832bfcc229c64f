/**
 * A two-layer MLP learns to tell two interleaved spirals apart, trained with Adam on the
 * cross-entropy loss. Deterministic for a given seed:
 *
 *   npx tsx --conditions=development examples/mlp.ts [--seed N] [--steps N]
 */
import { parseArgs } from 'node:util';
import { Adam, Linear, Module, Rng, crossEntropy, noGrad, tensor, tidy, type Tensor } from '@switch-ts/tensor';

class MLP extends Module {
  readonly hidden: Linear;
  readonly out: Linear;

  constructor(inputs: number, width: number, classes: number, rng: Rng) {
    super();
    this.hidden = this.module('hidden', new Linear(inputs, width, { rng }));
    this.out = this.module('out', new Linear(width, classes, { rng }));
  }

  forward(x: Tensor): Tensor {
    return this.out.forward(this.hidden.forward(x).relu());
  }
}

/** `n` points per class on two spirals of 1.5 turns, the second the first turned by half a circle. */
function spirals(n: number, rng: Rng): { x: Tensor; y: Tensor } {
  const points: number[][] = [];
  const labels: number[] = [];
  for (let label = 0; label < 2; label++) {
    for (let i = 0; i < n; i++) {
      const r = (i + 1) / n;
      const angle = 3 * Math.PI * r + label * Math.PI;
      points.push([r * Math.cos(angle) + 0.02 * rng.normal(), r * Math.sin(angle) + 0.02 * rng.normal()]);
      labels.push(label);
    }
  }
  return { x: tensor(points), y: tensor(labels, { dtype: 'int32' }) };
}

function accuracy(logits: Tensor, y: Tensor): number {
  return noGrad(() => logits.argmax(1).eq(y).cast('float32').mean().item());
}

const { values } = parseArgs({ options: { seed: { type: 'string', default: '0' }, steps: { type: 'string', default: '600' } } });
const seed = Number(values.seed), steps = Number(values.steps);
if (!Number.isInteger(seed) || !(Number.isInteger(steps) && steps > 0)) throw new Error('usage: mlp.ts [--seed N] [--steps N]');

const rng = new Rng(seed);
const { x, y } = spirals(200, rng.fork());
const model = new MLP(2, 64, 2, rng.fork());
const optimizer = new Adam(model.parameters(), { lr: 0.02 });
const logEvery = 50;
const started = performance.now();

for (let step = 1; step <= steps; step++) {
  // tidy frees the step's activations and gradients' intermediates; parameters and Adam's state stay.
  tidy(() => {
    optimizer.zeroGrad();
    const logits = model.forward(x);
    const loss = crossEntropy(logits, y);
    loss.backward();
    optimizer.step();
    if (step % logEvery === 0 || step === 1) {
      console.log(`step ${String(step).padStart(4)}  loss ${loss.item().toFixed(4)}  accuracy ${(100 * accuracy(logits, y)).toFixed(1)}%`);
    }
  });
}

const final = noGrad(() => tidy(() => accuracy(model.forward(x), y)));
console.log(`final accuracy ${(100 * final).toFixed(1)}% on ${y.size} points (seed ${seed}, ${((performance.now() - started) / 1000).toFixed(1)} s)`);
