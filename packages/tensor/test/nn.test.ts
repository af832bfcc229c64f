import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import {
  Dropout, Embedding, LayerNorm, Linear, Module, RMSNorm, Rng, init, ones, tensor, type Tensor,
} from '@switch-ts/tensor';
import { componentwiseError, magnitudes } from '../../../test/tolerance.js';

class Block extends Module {
  readonly fc: Linear;
  readonly norm: RMSNorm;
  readonly drop: Dropout;
  constructor(width: number, rng: Rng) {
    super();
    this.fc = this.module('fc', new Linear(width, width, { rng, bias: false }));
    this.norm = this.module('norm', new RMSNorm(width));
    this.drop = this.module('drop', new Dropout(0.5, rng));
  }
}

class Net extends Module {
  readonly scale: Tensor;
  readonly embed: Embedding;
  readonly layers: Block[];
  readonly head: Linear;
  constructor(rng: Rng) {
    super();
    this.scale = this.param('scale', init.ones([1]));
    this.embed = this.module('embed', new Embedding(10, 4, { rng }));
    this.layers = this.module('layers', [new Block(4, rng), new Block(4, rng)]);
    this.head = this.module('head', new Linear(4, 3, { rng }));
  }
}

function shapesOf(m: Module): Record<string, readonly number[]> {
  return Object.fromEntries([...m.namedParameters()].map(([name, p]) => [name, p.shape]));
}

/** |a − e| ≤ rel·max(|e|, 1) elementwise. */
function expectClose(actual: ArrayLike<number>, expected: readonly number[], rel = 1e-12): void {
  expect(componentwiseError(actual, expected, magnitudes(expected, 1))).toBeLessThanOrEqual(rel);
}

describe('Module', () => {
  it('names parameters by their path in the module tree, own ones first, arrays by index', () => {
    expect(shapesOf(new Net(new Rng(0)))).toEqual({
      'scale': [1],
      'embed.weight': [10, 4],
      'layers.0.fc.weight': [4, 4],
      'layers.0.norm.weight': [4],
      'layers.1.fc.weight': [4, 4],
      'layers.1.norm.weight': [4],
      'head.weight': [4, 3],
      'head.bias': [3],
    });
  });

  it('parameters() lists the named parameters in the same order, all requiring grad', () => {
    const net = new Net(new Rng(0));
    expect(net.parameters()).toEqual([...net.namedParameters().values()]);
    expect(net.parameters().every((p) => p.requiresGrad && p.gradNode === null)).toBe(true);
  });

  it('lists a parameter shared by two modules once, under its first name', () => {
    class Tied extends Module {
      constructor(rng: Rng) {
        super();
        const a = this.module('a', new Linear(3, 3, { rng }));
        this.module('b', new Shared(a.weight));
      }
    }
    class Shared extends Module {
      constructor(w: Tensor) {
        super();
        this.param('weight', w);
      }
    }
    expect([...new Tied(new Rng(0)).namedParameters().keys()]).toEqual(['a.weight', 'a.bias']);
  });

  it('rejects repeated or dotted names, non-modules and parameters that are op outputs', () => {
    class Bad extends Module {
      constructor(what: 'repeat' | 'dot' | 'notModule' | 'nonLeaf') {
        super();
        const p = init.zeros([2]);
        if (what === 'repeat') {
          this.param('w', p);
          this.param('w', init.zeros([2]));
        }
        if (what === 'dot') this.param('a.b', p);
        if (what === 'notModule') this.module('m', [p as unknown as Module]);
        if (what === 'nonLeaf') this.param('w', tensor([1, 2], { requiresGrad: true }).mul(2));
      }
    }
    expect(() => new Bad('repeat')).toThrow("Bad: 'w' is already registered");
    expect(() => new Bad('dot')).toThrow("Bad: 'a.b' is not a valid name");
    expect(() => new Bad('notModule')).toThrow("Bad.module('m'): expected a Module or an array of Modules");
    expect(() => new Bad('nonLeaf')).toThrow("Bad.param('w'): a parameter must be a leaf tensor");
  });

  it('train() and eval() set the flag on every module in the tree', () => {
    const net = new Net(new Rng(0));
    const flags = (): boolean[] => [net.training, net.layers[0]!.training, net.layers[1]!.drop.training, net.head.training];
    expect(flags()).toEqual([true, true, true, true]);
    expect(net.eval()).toBe(net);
    expect(flags()).toEqual([false, false, false, false]);
    net.train();
    expect(flags()).toEqual([true, true, true, true]);
  });

  it('zeroGrad clears the gradient of every parameter', () => {
    const lin = new Linear(2, 2, { rng: new Rng(0) });
    lin.forward(tensor([[1, 2]])).sum().backward();
    expect(lin.weight.grad).not.toBeNull();
    lin.zeroGrad();
    expect(lin.parameters().map((p) => p.grad)).toEqual([null, null]);
  });
});

describe('Linear', () => {
  it('computes x·W + b with W stored [in, out], over any leading dims', () => {
    const lin = new Linear(3, 2, { rng: new Rng(1), dtype: 'float64' });
    lin.bias!.assign([0.5, -1]);
    const xs = Array.from({ length: 2 * 4 * 3 }, (_, i) => Math.sin(i));
    const y = lin.forward(tensor(xs, { shape: [2, 4, 3], dtype: 'float64' }));
    expect(y.shape).toEqual([2, 4, 2]);
    const w = lin.weight.dataSync(), b = lin.bias!.dataSync();
    const expected: number[] = [];
    for (let row = 0; row < 8; row++) {
      for (let o = 0; o < 2; o++) {
        let acc = b[o]!;
        for (let i = 0; i < 3; i++) acc += xs[row * 3 + i]! * w[i * 2 + o]!;
        expected.push(acc);
      }
    }
    expectClose(y.dataSync(), expected);
  });

  it('has no bias when asked, and says which layer got the wrong input', () => {
    const lin = new Linear(3, 2, { rng: new Rng(0), bias: false });
    expect(lin.bias).toBeNull();
    expect([...lin.namedParameters().keys()]).toEqual(['weight']);
    expect(() => lin.forward(tensor([[1, 2]]))).toThrow('Linear: expected an input of shape [..., 3], got shape [1,2]');
  });

  it('is deterministic: the same seed gives identical weights, another seed different ones', () => {
    const weights = (seed: number) => new Linear(8, 5, { rng: new Rng(seed) }).weight.dataSync();
    expect(weights(7)).toEqual(weights(7));
    expect(weights(7)).not.toEqual(weights(8));
  });
});

describe('Embedding', () => {
  it('picks rows for indices of any shape, and adds the gradients of repeated indices', () => {
    const emb = new Embedding(5, 3, { rng: new Rng(0), dtype: 'float64' });
    const table = emb.weight.toArray() as number[][];
    const out = emb.forward(tensor([[4, 0], [4, 2]], { dtype: 'int32' }));
    expect(out.shape).toEqual([2, 2, 3]);
    expect(out.toArray()).toEqual([[table[4], table[0]], [table[4], table[2]]]);
    out.sum().backward();
    expect(emb.weight.grad!.toArray()).toEqual([[1, 1, 1], [0, 0, 0], [1, 1, 1], [0, 0, 0], [2, 2, 2]]);
  });
});

describe('normalization', () => {
  /** Rows of a [rows, dim] float64 input, with a weight and bias that are not the identity. */
  const cases = fc.integer({ min: 1, max: 8 }).chain((dim) =>
    fc.record({
      dim: fc.constant(dim),
      rows: fc.array(fc.array(fc.double({ min: -50, max: 50, noNaN: true }), { minLength: dim, maxLength: dim }), { minLength: 1, maxLength: 4 }),
      weight: fc.array(fc.double({ min: -2, max: 2, noNaN: true }), { minLength: dim, maxLength: dim }),
      bias: fc.array(fc.double({ min: -2, max: 2, noNaN: true }), { minLength: dim, maxLength: dim }),
    }));

  it('LayerNorm is (x − mean) / sqrt(biased var + eps) · weight + bias over the last dim', () => {
    fc.assert(fc.property(cases, ({ dim, rows, weight, bias }) => {
      const eps = 1e-5;
      const ln = new LayerNorm(dim, { eps, dtype: 'float64' });
      ln.weight.assign(weight);
      ln.bias.assign(bias);
      const expected = rows.flatMap((row) => {
        let sum = 0;
        for (const v of row) sum += v;
        const mean = sum / dim;
        let squares = 0;
        for (const v of row) squares += (v - mean) ** 2;
        const variance = squares / dim;
        return row.map((v, i) => ((v - mean) / Math.sqrt(variance + eps)) * weight[i]! + bias[i]!);
      });
      expectClose(ln.forward(tensor(rows, { dtype: 'float64' })).dataSync(), expected, 1e-9);
    }));
  });

  it('RMSNorm is x / sqrt(mean(x²) + eps) · weight: no centering, no bias', () => {
    fc.assert(fc.property(cases, ({ dim, rows, weight }) => {
      const eps = 1e-6;
      const norm = new RMSNorm(dim, { eps, dtype: 'float64' });
      norm.weight.assign(weight);
      const expected = rows.flatMap((row) => {
        let squares = 0;
        for (const v of row) squares += v * v;
        const meanSquare = squares / dim;
        return row.map((v, i) => (v / Math.sqrt(meanSquare + eps)) * weight[i]!);
      });
      expectClose(norm.forward(tensor(rows, { dtype: 'float64' })).dataSync(), expected, 1e-9);
    }));
  });

  it('RMSNorm keeps a constant row at ±1 where LayerNorm sends it to 0', () => {
    const x = tensor([[3, 3, 3], [-2, -2, -2]], { dtype: 'float64' });
    expectClose(new RMSNorm(3, { eps: 0, dtype: 'float64' }).forward(x).dataSync(), [1, 1, 1, -1, -1, -1]);
    expectClose(new LayerNorm(3, { dtype: 'float64' }).forward(x).dataSync(), [0, 0, 0, 0, 0, 0]);
  });

  it('both have gradients for their parameters and their input', () => {
    for (const norm of [new LayerNorm(4), new RMSNorm(4)]) {
      const x = tensor([[1, 2, 3, 5]], { requiresGrad: true });
      norm.forward(x).mul(tensor([1, -1, 2, 0])).sum().backward();
      expect(x.grad!.shape).toEqual([1, 4]);
      expect(norm.parameters().every((p) => p.grad !== null)).toBe(true);
    }
  });
});

describe('Dropout', () => {
  it('zeroes about p of the elements in training and scales the others by 1/(1 − p)', () => {
    const p = 0.25;
    const drop = new Dropout(p, new Rng(3));
    const out = drop.forward(ones([100, 100])).dataSync();
    const kept = Array.from(out).filter((v) => v !== 0);
    expect(new Set(kept)).toEqual(new Set([Math.fround(1 / (1 - p))]));
    // 10 000 Bernoulli(0.25) draws: the zero fraction has std 0.0043; allow 5 of them.
    expect(Math.abs(1 - kept.length / out.length - p)).toBeLessThan(0.022);
  });

  it('is the identity in eval mode', () => {
    const drop = new Dropout(0.9, new Rng(0)).eval();
    const x = tensor([1, 2, 3]);
    expect(drop.forward(x)).toBe(x);
  });

  it('rejects a rate outside [0, 1) when it is built', () => {
    expect(() => new Dropout(1, new Rng(0))).toThrow('Dropout: p must be in [0, 1), got 1');
    expect(() => new Dropout(-0.1, new Rng(0))).toThrow('Dropout: p must be in [0, 1), got -0.1');
  });
});

describe('init', () => {
  /** The std of a standard normal truncated to [−2, 2], by Simpson's rule on its density. */
  function truncatedStd(): number {
    const n = 2000, h = 4 / n;
    let mass = 0, second = 0;
    for (let i = 0; i <= n; i++) {
      const z = -2 + i * h;
      const w = i === 0 || i === n ? 1 : i % 2 === 1 ? 4 : 2;
      const density = Math.exp((-z * z) / 2);
      mass += w * density;
      second += w * z * z * density;
    }
    return Math.sqrt(second / mass);
  }

  function stats(t: Tensor): { mean: number; std: number; maxAbs: number } {
    const v = t.dataSync();
    let mean = 0, maxAbs = 0;
    for (const x of v) {
      mean += x / v.length;
      maxAbs = Math.max(maxAbs, Math.abs(x));
    }
    let variance = 0;
    for (const x of v) variance += (x - mean) ** 2 / v.length;
    return { mean, std: Math.sqrt(variance), maxAbs };
  }

  it('truncatedNormal has σ = sqrt(scale / fanIn), no value beyond 2σ, and the spread of a normal cut at 2σ', () => {
    const scale = 0.1, fanIn = 256;
    const sigma = Math.sqrt(scale / fanIn);
    const s = stats(init.truncatedNormal([fanIn, 300], { scale, rng: new Rng(0), dtype: 'float64' }));
    expect(s.maxAbs).toBeLessThanOrEqual(2 * sigma);
    expect(s.maxAbs).toBeGreaterThan(1.99 * sigma);
    // 76 800 samples: the sample std is within 1% of the true one with overwhelming probability.
    expect(Math.abs(s.std / (sigma * truncatedStd()) - 1)).toBeLessThan(0.01);
    expect(Math.abs(s.mean)).toBeLessThan(0.02 * sigma);
  });

  it('takes fanIn from the second-to-last dim, so expert weights [E, in, out] scale by in', () => {
    expect(init.fans([8, 64, 256])).toEqual({ fanIn: 64, fanOut: 256 });
    const s = stats(init.truncatedNormal([8, 64, 256], { rng: new Rng(1), dtype: 'float64' }));
    expect(s.maxAbs).toBeLessThanOrEqual(2 / Math.sqrt(64));
    expect(Math.abs(s.std / (truncatedStd() / Math.sqrt(64)) - 1)).toBeLessThan(0.01);
  });

  it('xavierUniform and kaimingUniform stay within their bounds and have the std of a uniform on them', () => {
    const cases = [
      { t: init.xavierUniform([200, 300], { rng: new Rng(2), dtype: 'float64' }), bound: Math.sqrt(6 / 500) },
      { t: init.kaimingUniform([200, 300], { rng: new Rng(3), dtype: 'float64' }), bound: Math.SQRT2 * Math.sqrt(3 / 200) },
    ];
    for (const { t, bound } of cases) {
      const s = stats(t);
      expect(s.maxAbs).toBeLessThanOrEqual(bound);
      expect(Math.abs(s.std / (bound / Math.sqrt(3)) - 1)).toBeLessThan(0.01);
    }
  });

  it('zeros and ones fill, with the requested dtype', () => {
    expect(init.zeros([2], { dtype: 'float64' }).toArray()).toEqual([0, 0]);
    expect(init.ones([2, 1]).toArray()).toEqual([[1], [1]]);
    expect(init.ones([1], { dtype: 'float64' }).dtype).toBe('float64');
  });

  it('rejects a non-positive scale or fanIn', () => {
    expect(() => init.truncatedNormal([2, 2], { scale: 0, rng: new Rng(0) })).toThrow('truncatedNormal: scale must be a finite number > 0, got 0');
    expect(() => init.truncatedNormal([0, 2], { rng: new Rng(0) })).toThrow('truncatedNormal: fanIn must be a finite number > 0, got 0');
  });
});
