import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import * as T from '@switch-ts/tensor';
import { SwitchLayer } from '@switch-ts/switch';
import { Linear, Module, Rng, SGD, Adam, crossEntropy, getBackend, memory, setBackend, tensor, tidy, type GpuMode, type Tensor } from '@switch-ts/tensor';
import { activeBackend as backend } from '@switch-ts/tensor/testing';
import type { GpuBackend } from '@switch-ts/tensor';
import * as A from './arbitraries.js';
import { headlessGlProblem, normwise, requireHeadlessGl, runnableModes, TOLERANCE } from './gpu.modes.js';

/**
 * The gpu backend against the CPU backend: every kernel on random shapes (fast-check), an MLP
 * training step, a SwitchLayer forward and backward, the kernel cache, device memory, the errors
 * and gpu.js's async contract, in every gpu.js mode that runs here. Few runs per property: each
 * new shape compiles a kernel, slow under a software rasterizer.
 */

afterAll(() => setBackend('cpu'));

function use(mode: GpuMode | 'cpu-backend'): void {
  if (mode === 'cpu-backend') setBackend('cpu');
  else setBackend('gpu', { mode });
}

/** Runs `build` on the CPU backend and on the gpu backend in `mode`; returns both runs' output values, per output. */
function onBoth(mode: GpuMode, build: () => Tensor | Tensor[]): [number[][], number[][]] {
  const values = (m: GpuMode | 'cpu-backend'): number[][] => {
    use(m);
    return tidy(() => {
      const out = build();
      return (Array.isArray(out) ? out : [out]).map((t) => Array.from(t.dataSync()));
    });
  };
  const want = values('cpu-backend');
  const got = values(mode);
  setBackend('cpu');
  return [want, got];
}

function expectClose(want: number[], got: number[], what = ''): void {
  expect(normwise(want, got), `${what} want ${want.slice(0, 6)}…, got ${got.slice(0, 6)}…`).toBeLessThan(TOLERANCE);
}

/** Normwise parity of all of `build`'s outputs taken together. */
function expectParity(mode: GpuMode, build: () => Tensor | Tensor[]): void {
  const [want, got] = onBoth(mode, build);
  expectClose(want.flat(), got.flat());
}

/** Normwise parity of each of `build`'s named outputs on its own. */
function expectEachParity(mode: GpuMode, build: () => [string, Tensor][]): void {
  let names: string[] = [];
  const [want, got] = onBoth(mode, () => {
    const named = build();
    names = named.map(([name]) => name);
    return named.map(([, t]) => t);
  });
  want.forEach((w, i) => expectClose(w, got[i]!, `${names[i]}:`));
}

const t = (d: A.Data): Tensor => tensor(d.data, { shape: d.shape });
const positive = (n: number) => A.values(n, { min: 0.1, max: 3 });

class MLP extends Module {
  readonly l1: Linear;
  readonly l2: Linear;
  constructor(inputs: number, width: number, classes: number, seed: number) {
    super();
    const rng = new Rng(seed);
    this.l1 = this.module('l1', new Linear(inputs, width, { rng }));
    this.l2 = this.module('l2', new Linear(width, classes, { rng }));
  }
  forward(x: Tensor): Tensor {
    return this.l2.forward(this.l1.forward(x).gelu());
  }
}

/** One full-batch training step; returns the loss tensor (kept alive by the caller's tidy). */
function trainStep(model: MLP, opt: T.Optimizer, x: Tensor, y: Tensor): Tensor {
  opt.zeroGrad();
  const loss = crossEntropy(model.forward(x), y);
  loss.backward();
  opt.step();
  return loss;
}

/** A small SwitchLayer case: sizes, top-k, capacity factor and a seed for the weights and the input. */
const switchCases = fc.record({
  groups: fc.integer({ min: 1, max: 2 }), S: fc.integer({ min: 2, max: 8 }), dModel: fc.integer({ min: 2, max: 6 }),
  dFF: fc.integer({ min: 2, max: 8 }), E: fc.integer({ min: 2, max: 4 }), kPick: fc.nat(),
  capacityFactor: fc.constantFrom(1, 1.25, 2), seed: fc.nat(1000),
}).map(({ kPick, ...c }) => ({ ...c, topK: 1 + (kPick % 2) }));

const modesUnderTest: GpuMode[] = runnableModes;

describe('gpu backend modes here', () => {
  if (headlessGlProblem !== null && requireHeadlessGl) {
    it('headlessgl runs (REQUIRE_HEADLESSGL=1)', () => {
      throw new Error(`REQUIRE_HEADLESSGL=1 but headlessgl cannot run: ${headlessGlProblem}`);
    });
  } else if (headlessGlProblem !== null) {
    // The default reporter does not name skipped tests, so say why on stderr too.
    console.warn(`headlessgl suites skipped: ${headlessGlProblem}`);
    it.skip(`headlessgl suites skipped: ${headlessGlProblem}`, () => {});
  }
  it('getBackend() reports the mode the kernels really run in', () => {
    for (const mode of modesUnderTest) {
      setBackend('gpu', { mode });
      expect(getBackend()).toEqual({ name: 'gpu', mode });
    }
    setBackend('cpu');
    expect(getBackend()).toEqual({ name: 'cpu' });
  });
});

for (const mode of modesUnderTest) {
  const runs = mode === 'headlessgl' ? 4 : 8;
  const prop = <Ts extends [unknown, ...unknown[]]>(arbs: { [K in keyof Ts]: fc.Arbitrary<Ts[K]> }, check: (...args: Ts) => void) =>
    fc.assert(fc.property(...arbs, check), { numRuns: runs, seed: 42 });

  describe(`gpu backend in mode '${mode}' equals the CPU backend (normwise < ${TOLERANCE})`, () => {
    it('unary ops', () => {
      const ops = ['neg', 'exp', 'abs', 'tanh', 'sigmoid', 'relu', 'gelu'] as const;
      prop([A.data(A.shape({ maxDim: 5 }))], (d) => expectParity(mode, () => ops.map((op) => T[op](t(d)))));
      prop([A.data(A.shape({ maxDim: 5 }), positive)], (d) => expectParity(mode, () => [T.log(t(d)), T.sqrt(t(d))]));
    });

    it('broadcasting binary ops, comparisons and where', () => {
      const ops = ['add', 'sub', 'mul', 'div', 'maximum', 'minimum', 'eq', 'ne', 'lt', 'le', 'gt', 'ge'] as const;
      prop([A.broadcastPair().chain(([sa, sb]) => fc.tuple(A.dataOf(sa, (n) => A.gridValues(n, 0)), A.dataOf(sb, (n) => A.gridValues(n, 1))))],
        ([a, b]) => expectParity(mode, () => [...ops.map((op) => T[op](t(a), t(b))), T.where(T.gt(t(a), t(b)), t(a), t(b))]));
      prop([A.broadcastPair().chain(([sa, sb]) => fc.tuple(A.dataOf(sa, positive), A.dataOf(sb)))],
        ([a, b]) => expectParity(mode, () => T.pow(t(a), t(b))));
    });

    it('matmul, batched, with the transposed variants backward needs', () => {
      prop([A.matmulShapes().chain((s) => fc.tuple(A.dataOf(s.a), A.dataOf(s.b)))], (a, ) => {
        const [x, y] = a;
        expectParity(mode, () => T.matmul(t(x), t(y)));
      });
      prop([fc.tuple(fc.integer({ min: 1, max: 6 }), fc.integer({ min: 1, max: 6 }), fc.integer({ min: 1, max: 9 }))
        .chain(([m, n, k]) => fc.tuple(A.dataOf([2, k, m]), A.dataOf([n, k])))], ([a, b]) => {
        // aᵀ·b (transA) and a·bᵀ (transB), as matmul's backward asks for them.
        expectParity(mode, () => [T.matmulTransposed(t(a), t(a), true, false), T.matmulTransposed(t(a).transpose([0, 2, 1]), t(b), false, true)]);
      });
    });

    it('reductions along an axis, softmax and logsumexp', () => {
      prop([A.data(A.shape({ minRank: 1, maxDim: 6 })).chain((d) => fc.tuple(fc.constant(d), A.axis(d.shape.length)))], ([d, axis]) =>
        expectParity(mode, () => [T.sum(t(d), axis), T.max(t(d), axis), T.min(t(d), axis), T.mean(t(d), axis),
          T.softmax(t(d).mul(20), axis), T.logsumexp(t(d).mul(20), axis), T.logSoftmax(t(d), axis), T.argmax(t(d), axis)]));
    });

    it('shape kernels: transpose, slice (and its adjoint pad), concat, broadcastTo', () => {
      prop([A.data(A.shape({ minRank: 1, maxDim: 4 })).chain((d) => fc.tuple(fc.constant(d), A.permutation(d.shape.length)))], ([d, perm]) =>
        expectParity(mode, () => {
          const x = t(d);
          x.requiresGrad = true;
          const begin = d.shape.map((n) => Math.floor(n / 2));
          const s = T.slice(x, begin, d.shape.map((n, i) => n - begin[i]!));
          s.sum().backward(); // slice's gradient is pad
          return [T.transpose(x, perm), s, x.grad!, T.concat([x, x.mul(2)], 0), T.concat([x, x], -1), T.broadcastTo(x, [2, ...d.shape])];
        }));
    });

    it('gather / indexAdd along the token axis, takeAlongAxis / scatterAdd, oneHot, topk', () => {
      const tokens = fc.tuple(fc.integer({ min: 1, max: 6 }), fc.integer({ min: 1, max: 5 }), fc.integer({ min: 1, max: 8 }));
      prop([tokens.chain(([n, d, k]) => fc.tuple(A.dataOf([n, d]), A.indices(k, n), A.dataOf([k, d])))], ([x, idx, s]) =>
        expectParity(mode, () => {
          const i = tensor(idx, { dtype: 'int32' });
          return [T.gather(t(x), i, 0), T.indexAdd(t(x), i, t(s), 0), T.oneHot(i, x.shape[0]!)];
        }));
      prop([tokens.chain(([n, d, k]) => fc.tuple(A.dataOf([n, d], (m) => A.distinct(m)), A.indices(n * k, d), A.dataOf([n, k])))], ([x, idx, s]) =>
        expectParity(mode, () => {
          const i = tensor(idx, { shape: s.shape, dtype: 'int32' });
          const top = T.topk(t(x), Math.min(2, x.shape[1]!), -1);
          return [T.takeAlongAxis(t(x), i, 1), T.scatterAdd(t(x), i, t(s), 1), top.values, top.indices];
        }));
    });

    it('an MLP training step: loss, gradients and updated parameters (Adam)', () => {
      const rng = new Rng(7);
      const xs = Array.from({ length: 16 * 6 }, () => rng.normal());
      const ys = Array.from({ length: 16 }, (_, i) => i % 3);
      expectParity(mode, () => {
        const model = new MLP(6, 12, 3, 11);
        const opt = new Adam(model.parameters(), { lr: 0.01 });
        const x = tensor(xs, { shape: [16, 6] }), y = tensor(ys, { dtype: 'int32' });
        const losses = [trainStep(model, opt, x, y), trainStep(model, opt, x, y)];
        return [...losses, ...model.parameters().flatMap((p) => [p, p.grad!])];
      });
    });

    it('a SwitchLayer forward and backward: output, auxLoss and every parameter gradient', () => {
      fc.assert(fc.property(switchCases, (c) => {
        expectEachParity(mode, () => {
          const layer = new SwitchLayer({ dModel: c.dModel, dFF: c.dFF, numExperts: c.E, topK: c.topK, capacityFactor: c.capacityFactor, seed: c.seed });
          const rng = new Rng(c.seed + 1);
          const values = (n: number) => Array.from({ length: n }, () => rng.normal());
          const x = tensor(values(c.groups * c.S * c.dModel), { shape: [c.groups, c.S, c.dModel] });
          x.requiresGrad = true;
          const { output, auxLoss } = layer.forward(x);
          output.mul(tensor(values(output.size), { shape: output.shape })).sum().add(auxLoss).backward();
          const grads = Array.from(layer.namedParameters(), ([name, p]): [string, Tensor] => [`${name}.grad`, p.grad!]);
          return [['output', output], ['auxLoss', auxLoss], ['x.grad', x.grad!], ...grads];
        });
      }), { numRuns: mode === 'headlessgl' ? 2 : 4, seed: 42 });
    });

    it('a second identical training step compiles no new kernel', () => {
      setBackend('gpu', { mode });
      const b = backend() as GpuBackend;
      const model = new MLP(4, 8, 3, 5);
      const opt = new SGD(model.parameters(), { lr: 0.1, momentum: 0.9 });
      const x = tensor(Array.from({ length: 32 }, (_, i) => Math.sin(i)), { shape: [8, 4] });
      const y = tensor([0, 1, 2, 0, 1, 2, 0, 1], { dtype: 'int32' });
      tidy(() => trainStep(model, opt, x, y).item());
      tidy(() => trainStep(model, opt, x, y).item());
      const before = b.compiles;
      tidy(() => trainStep(model, opt, x, y).item());
      expect(b.compiles).toBe(before);
      setBackend('cpu');
    });

    it('float64 runs on the CPU path and matches the CPU backend exactly; int32 division truncates', () => {
      const run = () => {
        const x = tensor([1e-9, 2, 3.5, -7], { dtype: 'float64' });
        const i = tensor([7, -7, 9, 1], { dtype: 'int32' });
        return [x.exp().add(x.mul(1e12)), i.div(tensor([2, 2, 3, 1], { dtype: 'int32' })), x.cast('float32')];
      };
      setBackend('cpu');
      const want = tidy(() => run().map((r) => Array.from(r.dataSync())));
      setBackend('gpu', { mode });
      const out = run();
      expect(out.map((r) => r.dtype)).toEqual(['float64', 'int32', 'float32']);
      expect(out.map((r) => Array.from(r.dataSync()))).toEqual(want);
      out.forEach((r) => r.dispose());
      setBackend('cpu');
    });

    it('bad input gives the same errors as on the CPU backend', () => {
      const cases: (() => unknown)[] = [
        () => T.matmul(T.ones([2, 3]), T.ones([4, 2])),
        () => T.add(T.ones([2, 3]), T.ones([3, 2])),
        () => T.gather(T.ones([3, 2]), tensor([0, 3], { dtype: 'int32' }), 0),
        () => T.topk(T.ones([2, 3]), 4),
        () => T.softmax(T.ones([2, 3]), 2),
        () => T.oneHot(tensor([0, 5], { dtype: 'int32' }), 3),
        () => { const x = T.ones([2]); x.dispose(); return x.add(1); },
        () => T.ones([2, 2]).assign(T.ones([3])),
      ];
      const messages = (m: GpuMode | 'cpu-backend') => {
        use(m);
        return cases.map((c) => { try { tidy(() => { c(); }); return 'no error'; } catch (e) { return (e as Error).message; } });
      };
      const want = messages('cpu-backend');
      expect(want.every((w) => w !== 'no error')).toBe(true);
      expect(messages(mode)).toEqual(want);
      setBackend('cpu');
    });

    it("under gpu.js's async contract the kernels run as promises and await x.data() waits for them", async () => {
      const rng = new Rng(9);
      const xs = Array.from({ length: 64 * 64 }, () => rng.normal()), ys = Array.from({ length: 64 }, (_, i) => i % 3);
      const run = () => {
        const model = new MLP(64, 64, 3, 2);
        const opt = new Adam(model.parameters(), { lr: 0.01 });
        const x = tensor(xs, { shape: [64, 64] }), y = tensor(ys, { dtype: 'int32' });
        // 64×64 outputs are 4,096 cells: webasm runs them on its worker threads.
        const losses = [T.matmul(x, x), trainStep(model, opt, x, y), trainStep(model, opt, x, y)];
        return [...losses, ...model.parameters().flatMap((p) => [p, p.grad!])];
      };
      setBackend('cpu');
      const want = tidy(() => run().map((r) => Array.from(r.dataSync())));
      setBackend('gpu', { mode, async: true });
      const out = run();
      expect(() => out[0]!.dataSync()).toThrow(/has not run yet; read it with await x\.data\(\)/);
      const got: number[][] = [];
      for (const r of out) got.push(Array.from(await r.data()));
      want.forEach((w, i) => expectClose(w, got[i]!, `output ${i}:`));
      expect(out[0]!.dataSync()).toBe(await out[0]!.data()); // read back once, then cached
      out.forEach((r) => r.dispose());
      setBackend('cpu');
    });

    it('await x.data() and x.array() read back like dataSync() and toArray()', async () => {
      setBackend('gpu', { mode });
      const x = T.matmul(tensor([[1, 2], [3, 4]]), tensor([[1, 0], [0, 1]]));
      expect(Array.from(await x.data())).toEqual([1, 2, 3, 4]);
      expect(await x.array()).toEqual([[1, 2], [3, 4]]);
      expect(await tensor([3], { dtype: 'int32' }).data()).toBeInstanceOf(Int32Array);
      setBackend('cpu');
    });
  });
}
