import { afterEach, describe, expect, it, vi } from 'vitest';
import { crossEntropy, getBackend, Linear, MAX_DEVICE_LENGTH, memory, Module, profile, Rng, SGD, setBackend, tensor, tidy, type Tensor } from '@switch-ts/tensor';
import { activeBackend as backend } from '@switch-ts/tensor/testing';
import type { GpuBackend } from '@switch-ts/tensor';
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

describe('the kernel registry on the gpu backend', () => {
  it('a kernel the backend does not register runs on the CPU, counted with the bytes it moved', () => {
    setBackend('gpu', { mode: best });
    const x = tensor([[1, 5, 2], [7, 0, 3]]);
    const p = profile(() => { x.argmax(1); x.mul(2); });
    // argmax: 6 float32 read back, 2 int32 uploaded; mul runs on the device.
    expect(p.byOp.argmax).toMatchObject({ calls: 1, fallbacks: 1, fallbackBytes: 6 * 4 + 2 * 4 });
    expect(p.byOp.mul).toMatchObject({ calls: 1, fallbacks: 0, fallbackBytes: 0 });
    expect(p).toMatchObject({ fallbacks: 1, fallbackBytes: 32 });
  });

  it('inputs the backend declines (float64) run on the CPU kernel, with float64 results', () => {
    setBackend('gpu', { mode: best });
    const x = tensor([1 / 3, 2], { dtype: 'float64' });
    const p = profile(() => { expect(Array.from(x.mul(3).dataSync())).toEqual([1, 6]); });
    expect(p.byOp.mul).toMatchObject({ fallbacks: 1 });
  });
});

describe('reads never move a tensor', () => {
  it('dataSync, toArray and data read a CPU tensor in place while the gpu backend is active', async () => {
    const x = tensor([1, 2, 3]);
    setBackend('gpu', { mode: best });
    const b = backend() as GpuBackend;
    const before = b.liveDeviceArrays;
    expect(Array.from(x.dataSync())).toEqual([1, 2, 3]);
    expect(x.toArray()).toEqual([1, 2, 3]);
    expect(Array.from(await x.data())).toEqual([1, 2, 3]);
    expect(b.liveDeviceArrays).toBe(before);
  });

  it('assign writes a tensor where it lives, from a tensor on another backend', () => {
    const w = tensor([0, 0]);
    const shared = w.dataSync();
    setBackend('gpu', { mode: best });
    const b = backend() as GpuBackend;
    const v = tensor([4, 5]);
    const before = b.liveDeviceArrays;
    w.assign(v);
    expect(b.liveDeviceArrays).toBe(before);
    expect(Array.from(shared)).toEqual([4, 5]); // still the CPU array it was
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

/**
 * gpu.js indexes in float32, exactly only below 2^23 elements (packages/tensor/README.md): before
 * the limit, a 2^23 + 64-element add read 31 wrong elements on webasm and 32 on headlessgl, silently.
 */
describe.each(runnableModes)('tensors around MAX_DEVICE_LENGTH (mode %s)', (mode) => {
  const values = (n: number) => Float32Array.from({ length: n }, (_, i) => i % 1000);

  it('up to 2^23 elements run on the device, longer ones on the CPU path, and both are exact', () => {
    expect(MAX_DEVICE_LENGTH).toBe(2 ** 23);
    setBackend('gpu', { mode, strict: true });
    const b = backend() as GpuBackend;
    for (const rows of [MAX_DEVICE_LENGTH / 64, MAX_DEVICE_LENGTH / 64 + 1]) {
      const v = values(rows * 64);
      const before = b.liveDeviceArrays;
      const y = tidy(() => tensor(v, { shape: [rows, 64] }).add(tensor(new Float32Array(64).fill(1))).dataSync());
      // Inside tidy: x, the ones and the sum on the device, or only the ones past the limit; all freed after.
      expect(b.liveDeviceArrays).toBe(before);
      let wrong = 0;
      for (let i = 0; i < v.length; i++) if (y[i] !== v[i]! + 1) wrong++;
      expect(wrong, `${rows} × 64`).toBe(0);
    }
  });

  it('a tensor past the limit stays on the host: no device array is made for it', () => {
    setBackend('gpu', { mode, strict: true });
    const b = backend() as GpuBackend;
    const before = b.liveDeviceArrays;
    const x = tensor(values(MAX_DEVICE_LENGTH + 1));
    const y = x.add(x);
    expect(b.liveDeviceArrays).toBe(before);
    expect(y.dataSync()[MAX_DEVICE_LENGTH]).toBe(2 * (MAX_DEVICE_LENGTH % 1000));
    x.dispose();
    y.dispose();
  });

  it('a matmul at the edge of the limit is exact', () => {
    setBackend('gpu', { mode, strict: true });
    // m·n = 8,388,606 ≤ 2^23, but webasm's packed output of whole row tiles, ⌈m/4⌉·4·n = 8,388,612,
    // is past it: there the matmul takes the CPU path (every array a kernel touches is within the limit).
    const m = 2_796_202, n = 3;
    const a = tensor(values(m), { shape: [m, 1] }), w = tensor([1, 2, 3], { shape: [1, n] });
    const y = a.matmul(w).dataSync();
    let wrong = 0;
    for (let i = 0; i < m; i++) for (let j = 0; j < n; j++) if (y[i * n + j] !== (i % 1000) * (j + 1)) wrong++;
    expect(wrong).toBe(0);
    a.dispose(); w.dispose();
  });
});

/**
 * llvmpipe (headlessgl) stops a shader loop after 65,535 iterations without an error: before the
 * reductions ran in blocks, a sum of 10^5 ones gave about 65,546 there. Kernels with a longer loop
 * take the CPU kernel; reductions run in passes.
 */
describe.each(runnableModes)('loops longer than a shader may run (mode %s)', (mode) => {
  const n = 70_000;

  it('a sum and a max over 70,000 elements see every element', () => {
    setBackend('gpu', { mode, strict: true });
    const x = tensor(Float32Array.from({ length: n }, (_, i) => (i === n - 1 ? 5 : 1)));
    expect(x.sum().item()).toBe(n + 4);
    expect(x.max().item()).toBe(5);
  });

  it('a matmul with k = 70,000 and an indexAdd of 70,000 rows are exact (on the CPU kernel)', () => {
    setBackend('gpu', { mode, strict: true });
    const ones = tensor(new Float32Array(n).fill(1));
    const p = profile(() => {
      expect(ones.reshape([1, n]).matmul(ones.reshape([n, 1])).item()).toBe(n);
      const rows = tensor(Int32Array.from({ length: n }, (_, i) => i % 2));
      expect(Array.from(tensor([0, 0]).indexAdd(rows, ones).dataSync())).toEqual([n / 2, n / 2]);
    });
    expect(p.byOp.matmul?.fallbacks).toBe(1);
    expect(p.byOp.indexAdd?.fallbacks).toBe(1);
  });
});
