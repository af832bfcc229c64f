import { describe, expect, it } from 'vitest';
import { Adam, clipGradNorm, Linear, mean, Rng, SGD, tensor, tidy, where, zeros, type Tensor } from '@switch-ts/tensor';

/**
 * The autodiff graph stays honest about what it saved: an in-place write to a tensor a recorded
 * op needs for its gradient makes backward throw (PyTorch's version counter), and so does a
 * graph whose intermediates a tidy already freed. `tidy` refuses async work, which would outlive it.
 */

const INPLACE = 'one of the variables needed for gradient computation has been modified by an inplace operation';

describe('version counter: an in-place write to a saved tensor makes backward throw', () => {
  it('assign to an operand after the forward pass (the wrong-gradient case of the issue)', () => {
    const x = tensor([3, 4], { requiresGrad: true });
    const w = tensor([1, 2], { requiresGrad: true });
    const y = x.mul(w).sum();
    w.assign([10, 20]);
    expect(() => y.backward()).toThrow(`backward: ${INPLACE}`);
    expect(() => y.backward()).toThrow(/mul.*\[2\]/);
  });

  it('assign to the saved output of an op (exp saves its output)', () => {
    const x = tensor([0, 1], { requiresGrad: true });
    const y = x.exp();
    const loss = y.sum();
    y.assign([5, 5]);
    expect(() => loss.backward()).toThrow(INPLACE);
  });

  it('a view shares its storage\'s counter: assigning through reshape, unsqueeze or detach counts', () => {
    for (const view of [(t: Tensor) => t.reshape([2, 1]), (t: Tensor) => t.unsqueeze(0), (t: Tensor) => t.detach(), (t: Tensor) => t.reshape([1, 2]).squeeze()]) {
      const x = tensor([3, 4], { requiresGrad: true });
      const w = tensor([1, 2]);
      const y = x.mul(w).sum();
      view(w).assign(view(zeros([2])));
      expect(() => y.backward()).toThrow(INPLACE);
    }
  });

  it('index tensors and conditions a gradient reads count too (gather, takeAlongAxis, where)', () => {
    const ops: [string, (x: Tensor, ints: Tensor) => Tensor][] = [
      ['gather', (x, i) => x.gather(i)],
      ['takeAlongAxis', (x, i) => x.takeAlongAxis(i, 0)],
      ['where', (x, c) => where(c, x, 0)],
    ];
    for (const [op, f] of ops) {
      const x = tensor([1, 2, 3], { requiresGrad: true });
      const ints = tensor([0, 1, 1], { dtype: 'int32' });
      const y = f(x, ints).sum();
      ints.assign([1, 0, 0]);
      expect(() => y.backward(), op).toThrow(new RegExp(`${INPLACE}.*${op}`));
    }
  });

  it('backward before the write still gives the saved values\' gradient', () => {
    const x = tensor([3, 4], { requiresGrad: true });
    const w = tensor([1, 2], { requiresGrad: true });
    x.mul(w).sum().backward();
    w.assign([10, 20]);
    expect(x.grad!.toArray()).toEqual([1, 2]);
  });

  it('optimizer steps between fresh forward passes keep working (Adam, SGD, clipGradNorm)', () => {
    const rng = new Rng(0);
    const layer = new Linear(3, 2, { rng });
    const x = tensor([[1, 2, 3], [4, 5, 6]]);
    const target = tensor([[1, 0], [0, 1]]);
    for (const opt of [new Adam(layer.parameters(), { lr: 0.01 }), new SGD(layer.parameters(), { lr: 0.01, momentum: 0.9 })]) {
      const losses: number[] = [];
      for (let step = 0; step < 5; step++) {
        tidy(() => {
          opt.zeroGrad();
          const loss = mean(layer.forward(x).sub(target).square());
          loss.backward();
          clipGradNorm(layer.parameters(), 1);
          opt.step();
          losses.push(loss.item());
        });
      }
      expect(losses[4]!).toBeLessThan(losses[0]!);
    }
  });

  it('an optimizer step before backward is the in-place write that backward reports', () => {
    const w = tensor([1, 2], { requiresGrad: true });
    const opt = new SGD([w], { lr: 0.1 });
    w.mul(w).sum().backward();
    const loss = w.mul(3).sum();
    opt.step();
    expect(() => loss.backward()).toThrow(INPLACE);
  });
});

describe('backward on a graph a tidy has freed, or with a freed seed', () => {
  it('names backward and the tidy, not the op that happened to read a freed tensor', () => {
    const x = tensor([1, 2], { requiresGrad: true });
    let loss: Tensor | undefined;
    tidy(() => {
      loss = x.mul(x).sum();
    });
    expect(() => loss!.backward()).toThrow(/^backward: .*disposed.*tidy/);
    const kept = tidy(() => x.mul(x).exp().sum());
    expect(() => kept.backward()).toThrow("backward: the graph's intermediate tensors were disposed (by the tidy that built it?)");
  });

  it('a disposed seed is reported as the seed of backward', () => {
    const x = tensor([1, 2], { requiresGrad: true });
    const y = x.mul(2);
    const seed = tensor([1, 1], { dtype: 'float64' });
    seed.dispose();
    expect(() => y.backward(seed)).toThrow('backward: seed of shape [2] was disposed');
    expect(() => y.backward('1' as unknown as Tensor)).toThrow('backward: seed must be a Tensor, got string');
  });
});

describe('tidy refuses async work', () => {
  it('an async function is rejected before it runs', () => {
    let ran = false;
    expect(() => tidy((async () => { ran = true; }) as unknown as () => void)).toThrow('tidy: cannot be used with an async function');
    expect(ran).toBe(false);
  });

  it('a function returning a Promise (or any thenable) is rejected, and its tensors are freed', () => {
    let made: Tensor | undefined;
    expect(() => tidy(() => { made = tensor([1]); return Promise.resolve(made); })).toThrow('tidy: cannot be used with an async function');
    expect(made!.isDisposed).toBe(true);
    expect(() => tidy(() => ({ then: () => undefined }))).toThrow('tidy: cannot be used with an async function');
  });

  it('a non-function is named', () => {
    expect(() => tidy(5 as unknown as () => void)).toThrow('tidy: expected a function, got number');
  });
});
