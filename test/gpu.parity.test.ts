import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import * as T from '@switch-ts/tensor';
import { SwitchLayer } from '@switch-ts/switch';
import { Linear, Module, Rng, SGD, Adam, crossEntropy, getBackend, setBackend, tensor, tidy, type GpuMode, type Tensor } from '@switch-ts/tensor';
import { activeBackend as backend } from '@switch-ts/tensor/testing';
import type { GpuBackend } from '@switch-ts/tensor';
import { headlessGlProblem, requireHeadlessGl, runnableModes } from './gpu.modes.js';
import { normwiseError, TOLERANCE } from './tolerance.js';

/**
 * The gpu backend against the CPU backend on whole computations, in every gpu.js mode that runs
 * here: an MLP training step, a SwitchLayer forward and backward, the kernel cache, float64 and
 * int32 on the CPU path, the errors and gpu.js's async contract. Each op on its own, special
 * values included, is in the conformance suite (test/conformance), which runs on every backend.
 * Few runs per property: each new shape compiles a kernel, slow under a software rasterizer.
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
  expect(normwiseError(got, want), `${what} want ${want.slice(0, 6)}…, got ${got.slice(0, 6)}…`).toBeLessThan(TOLERANCE.gpu);
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
  describe(`gpu backend in mode '${mode}' equals the CPU backend (normwise < ${TOLERANCE.gpu})`, () => {
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
