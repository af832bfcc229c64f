import { describe, expect, it } from 'vitest';
import {
  fromArray, getBackend, keep, matmul, memory, noGrad, profile, setBackend, softmax, tensor, tidy, zeros, type Tensor,
} from '@switch-ts/tensor';

describe('tensor()', () => {
  it('infers the shape of nested arrays and defaults to float32', () => {
    const t = tensor([[1, 2, 3], [4, 5, 6]]);
    expect(t.shape).toEqual([2, 3]);
    expect(t.dtype).toBe('float32');
    expect(t.toArray()).toEqual([[1, 2, 3], [4, 5, 6]]);
  });

  it('makes a 0-d tensor from a number, whose toArray is a number', () => {
    const t = tensor(2.5, { dtype: 'float64' });
    expect(t.shape).toEqual([]);
    expect(t.toArray()).toBe(2.5);
    expect(t.item()).toBe(2.5);
  });

  it('takes the dtype of a typed array and reshapes flat values', () => {
    const t = tensor(new Int32Array([1, 2, 3, 4, 5, 6]), { shape: [3, 2] });
    expect(t.dtype).toBe('int32');
    expect(t.toArray()).toEqual([[1, 2], [3, 4], [5, 6]]);
  });

  it('rounds to float32 like a Float32Array does', () => {
    expect(tensor([0.1]).dataSync()[0]).toBe(Math.fround(0.1));
    expect(tensor([0.1], { dtype: 'float64' }).dataSync()[0]).toBe(0.1);
  });

  it('rejects ragged arrays, wrong element counts and int tensors that require grad', () => {
    expect(() => tensor([[1, 2], [3]])).toThrow(/tensor: ragged nested array at values\[1\]/);
    expect(() => tensor([1, 2, 3], { shape: [2, 2] })).toThrow(/tensor: 3 values cannot have shape \[2,2\]/);
    expect(() => tensor([1, 2], { dtype: 'int32', requiresGrad: true })).toThrow(/expected a float tensor, got int32/);
  });
});

describe('fromArray()', () => {
  it('shares memory with its array on the CPU backend, both ways, and takes its dtype', () => {
    const values = new Float64Array([1, 2, 3, 4, 5, 6]);
    const t = fromArray(values, [2, 3]);
    expect(t.dtype).toBe('float64');
    expect(t.shape).toEqual([2, 3]);
    values[5] = 60;
    expect(t.toArray()).toEqual([[1, 2, 3], [4, 5, 60]]);
    t.assign([[0, 0, 0], [0, 0, 7]]);
    expect(values[5]).toBe(7);
    expect(fromArray(new Int32Array([1, 2])).shape).toEqual([2]);
  });

  it('rejects plain arrays and a shape of another size', () => {
    expect(() => fromArray([1, 2] as unknown as Float32Array)).toThrow(/fromArray: values must be a Float32Array, Float64Array or Int32Array/);
    expect(() => fromArray(new Float32Array(3), [2, 2])).toThrow(/fromArray: 3 values cannot have shape \[2,2\] \(4 elements\)/);
    expect(() => fromArray(new Float32Array(3), [-3])).toThrow(/fromArray: invalid shape/);
  });
});

describe('Tensor methods', () => {
  it('item() refuses tensors with more than one element', () => {
    expect(() => tensor([1, 2]).item()).toThrow('item: tensor of shape [2] has 2 elements, expected 1');
  });

  it('assign copies in place, keeps the shape and is not recorded', () => {
    const w = tensor([[1, 2], [3, 4]], { requiresGrad: true });
    w.assign([[5, 6], [7, 8]]);
    expect(w.toArray()).toEqual([[5, 6], [7, 8]]);
    w.assign(new Float32Array([0, 1, 2, 3]));
    expect(w.toArray()).toEqual([[0, 1], [2, 3]]);
    expect(w.gradNode).toBeNull();
    expect(() => w.assign([1, 2, 3])).toThrow('assign: shape [3] does not match tensor of shape [2,2]');
  });

  it('reshape is a view: assign through one is seen by the other', () => {
    const x = tensor([1, 2, 3, 4]);
    const v = x.reshape([2, -1]);
    v.assign([[9, 9], [9, 9]]);
    expect(x.toArray()).toEqual([9, 9, 9, 9]);
  });

  it('detach shares data but leaves the graph', () => {
    const x = tensor([1, 2], { requiresGrad: true });
    const d = x.mul(2).detach();
    expect(d.requiresGrad).toBe(false);
    expect(d.toArray()).toEqual([2, 4]);
  });

  it('a disposed tensor cannot be used, and memory() counts it out', () => {
    const before = memory();
    const x = zeros([10, 10]);
    expect(memory().tensors).toBe(before.tensors + 1);
    expect(memory().bytes).toBe(before.bytes + 400);
    x.dispose();
    expect(memory()).toEqual(before);
    expect(() => x.add(1)).toThrow('add: input of shape [10,10] was disposed');
  });

  it('storage shared by a view is freed only when both are disposed', () => {
    const before = memory().bytes;
    const x = zeros([4]);
    const v = x.reshape([2, 2]);
    x.dispose();
    expect(memory().bytes).toBe(before + 16);
    expect(v.toArray()).toEqual([[0, 0], [0, 0]]);
    v.dispose();
    expect(memory().bytes).toBe(before);
  });
});

describe('tidy', () => {
  it('disposes what its function created except the result, kept tensors and parameters', () => {
    const w = tensor([[1, 2], [3, 4]], { requiresGrad: true });
    const before = memory().tensors;
    let kept: Tensor | undefined;
    let inner: Tensor | undefined;
    const out = tidy(() => {
      inner = w.mul(2);
      kept = keep(w.add(1));
      const loss = inner.sum();
      loss.backward();
      return loss;
    });
    expect(inner!.isDisposed).toBe(true);
    expect(kept!.isDisposed).toBe(false);
    expect(out.item()).toBe(20);
    expect(w.grad!.toArray()).toEqual([[2, 2], [2, 2]]);
    // out, kept and w.grad remain.
    expect(memory().tensors).toBe(before + 3);
  });

  it('leaves memory() flat over repeated training steps', () => {
    const w = tensor([[0.1, -0.2], [0.3, 0.4]], { requiresGrad: true, dtype: 'float64' });
    const x = tensor([[1, 2], [3, 4]], { dtype: 'float64' });
    const step = (): void => tidy(() => {
      w.zeroGrad();
      softmax(x.matmul(w)).mul(x).sum().backward();
      w.assign(w.sub(w.grad!.mul(0.1)));
    });
    step();
    const after1 = memory();
    for (let i = 0; i < 20; i++) step();
    expect(memory()).toEqual(after1);
  });

  it('moves returned tensors to the enclosing scope', () => {
    const before = memory().tensors;
    tidy(() => {
      const a = tidy(() => zeros([2]).add(1));
      expect(a.isDisposed).toBe(false);
    });
    expect(memory().tensors).toBe(before);
  });
});

describe('noGrad', () => {
  it('returns the value of its function and records nothing', () => {
    const x = tensor([1, 2], { requiresGrad: true });
    const y: Tensor = noGrad(() => x.mul(3));
    expect(y.requiresGrad).toBe(false);
    expect(y.toArray()).toEqual([3, 6]);
  });
});

describe('profile', () => {
  it('counts 2mkn FLOPs for a matmul and the bytes of its output', () => {
    const a = zeros([8, 16]), b = zeros([16, 4]);
    const p = profile(() => { matmul(a, b); });
    expect(p.byOp.matmul).toEqual({ calls: 1, flops: 2 * 8 * 16 * 4, bytes: 8 * 4 * 4, fallbacks: 0, fallbackBytes: 0 });
    expect(p.flops).toBe(2 * 8 * 16 * 4);
  });

  it('counts a batched matmul once per matrix of the broadcast batch', () => {
    const a = zeros([3, 1, 2, 5]), b = zeros([4, 5, 6]);
    expect(profile(() => { matmul(a, b); }).byOp.matmul!.flops).toBe(12 * 2 * 2 * 5 * 6);
  });

  it('includes the backward pass when it runs inside', () => {
    const x = zeros([4, 4]);
    x.requiresGrad = true;
    const fwd = profile(() => { softmax(x).sum(); });
    const both = profile(() => { softmax(x).sum().backward(); });
    expect(both.flops).toBeGreaterThan(fwd.flops);
    expect(both.byOp.softmax!.calls).toBe(1);
  });
});

describe('backends', () => {
  it('runs on the cpu backend by default and names unknown backends in the error', () => {
    expect(getBackend()).toEqual({ name: 'cpu' });
    expect(() => setBackend('tpu')).toThrow("setBackend: unknown backend 'tpu'; registered: cpu");
  });
});

describe('profile counts every allocation', () => {
  it('attributes the bytes of constructors and tensor() to them', () => {
    const p = profile(() => {
      zeros([1000]);
      tensor(new Float32Array(10));
    });
    expect(p.byOp.full).toEqual({ calls: 1, flops: 0, bytes: 4000, fallbacks: 0, fallbackBytes: 0 });
    expect(p.byOp.tensor).toEqual({ calls: 1, flops: 0, bytes: 40, fallbacks: 0, fallbackBytes: 0 });
    expect(p.bytes).toBe(4040);
  });
});
