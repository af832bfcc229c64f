import { afterEach, describe, expect, it, vi } from 'vitest';
import { crossEntropy, getBackend, Linear, memory, Module, Rng, SGD, setBackend, tensor, tidy, type Tensor } from '@switch-ts/tensor';
import { backend } from '../packages/tensor/src/engine.js';
import type { GpuBackend } from '../packages/tensor/src/backend/gpu/index.js';
import { runnableModes } from './gpu.modes.js';

/** setBackend('gpu') mode selection, and device memory over a long training loop. */

afterEach(() => {
  vi.restoreAllMocks();
  setBackend('cpu');
});

const best = runnableModes[0]!;

describe("setBackend('gpu', { mode })", () => {
  it('without a mode, runs the best mode available here, silently', () => {
    const warn = vi.spyOn(console, 'warn').mockImplementation(() => {});
    setBackend('gpu');
    expect(getBackend()).toEqual({ name: 'gpu', mode: best });
    expect(warn).not.toHaveBeenCalled();
  });

  it('a mode that cannot run falls back to the best that can, with one warning naming the reason', () => {
    const warn = vi.spyOn(console, 'warn').mockImplementation(() => {});
    setBackend('gpu', { mode: 'webgl2' });
    setBackend('gpu', { mode: 'webgl2' });
    expect(getBackend()).toEqual({ name: 'gpu', mode: best });
    expect(warn).toHaveBeenCalledTimes(1);
    expect(warn.mock.calls[0]![0]).toMatch(/mode 'webgl2' cannot run here \(webgl2 needs a browser canvas.*\); falling back to '/);
  });

  it('strict: true throws instead of falling back', () => {
    expect(() => setBackend('gpu', { mode: 'webgl', strict: true })).toThrow(/setBackend\('gpu', \{ mode: 'webgl', strict: true \}\): webgl cannot run here: /);
  });

  it('an unknown mode is an error', () => {
    expect(() => setBackend('gpu', { mode: 'cuda' })).toThrow(/unknown mode 'cuda'; known: headlessgl, webgl2, webgl, webasm, cpu/);
  });

  it('tensors move between backends and modes on use', () => {
    const x = tensor([1, 2, 3]);
    for (const mode of runnableModes) {
      setBackend('gpu', { mode });
      const y = x.mul(2);
      setBackend('cpu');
      expect(Array.from(y.add(1).dataSync())).toEqual([3, 5, 7]);
    }
  });
});

class TinyMLP extends Module {
  readonly l1: Linear;
  readonly l2: Linear;
  constructor(rng: Rng) {
    super();
    this.l1 = this.module('l1', new Linear(2, 4, { rng }));
    this.l2 = this.module('l2', new Linear(4, 2, { rng }));
  }
  forward(x: Tensor): Tensor {
    return this.l2.forward(this.l1.forward(x).relu());
  }
}

describe(`device memory (mode '${best}')`, () => {
  it('1,000 training steps inside tidy leave memory() and the live device arrays flat', () => {
    setBackend('gpu', { mode: best });
    const b = backend() as GpuBackend;
    const model = new TinyMLP(new Rng(3));
    const opt = new SGD(model.parameters(), { lr: 0.1, momentum: 0.9 });
    const x = tensor([[0, 0], [0, 1], [1, 0], [1, 1]]), y = tensor([0, 1, 1, 0], { dtype: 'int32' });
    const step = () => tidy(() => {
      opt.zeroGrad();
      const loss = crossEntropy(model.forward(x), y);
      loss.backward();
      opt.step();
    });
    step(); // the optimizer's buffers are made on the first step
    const before = { ...memory(), device: b.liveDeviceArrays };
    for (let i = 0; i < 1000; i++) step();
    expect({ ...memory(), device: b.liveDeviceArrays }).toEqual(before);
    const last = tidy(() => crossEntropy(model.forward(x), y).item());
    expect(last).toBeLessThan(0.1);
  });
});
