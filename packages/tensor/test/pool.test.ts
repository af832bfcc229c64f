import { afterEach, describe, expect, it } from 'vitest';
import {
  argmax, arrayPool, broadcastTo, cast, concat, crossEntropy, exp, fromArray, full, gather, getBackend, gt, indexAdd, logsumexp,
  matmul, max, memory, min, oneHot, randn, Rng, scatterAdd, setArrayPoolBytes, slice, softmax, sum, takeAlongAxis, tensor, tidy,
  topk, transpose, where, type Tensor,
} from '@switch-ts/tensor';
import { poisonArrayPool, tensorHeap } from '@switch-ts/tensor/testing';

/** Tensor.copy (internal; autograd's first gradient of a leaf), through a detached view so it is a real copy. */
const copy = (t: Tensor): Tensor => t.detach().copy();

const DEFAULT_BYTES = arrayPool().maxBytes;

/**
 * What the pool keeps for an array of `bytes`: the array itself, or in the wasm heap its block,
 * rounded up to an eighth of its power of two (4000 → 4096, 2000 → 2048) and to 64-byte lines.
 */
const pooledBytes = (bytes: number): number => {
  if (tensorHeap() === null) return bytes;
  const step = Math.max(64, 2 ** Math.floor(Math.log2(bytes)) / 8);
  return Math.ceil(bytes / step) * step;
};
afterEach(() => setArrayPoolBytes(DEFAULT_BYTES));

/**
 * A forward and backward pass through every CPU kernel (pad under slice's gradient; the reused
 * arrays of all others, which must overwrite every element), returning every value it computed.
 */
function program(): number[][] {
  return tidy(() => {
    const rng = new Rng(5);
    const [x, w] = [randn([8, 70], rng), randn([70, 24], rng)];
    x.requiresGrad = w.requiresGrad = true;
    const h = matmul(slice(x, [1, 3], [6, 60]), slice(w, [3, 0], [60, 24]));
    const idx = tensor([[0, 3, 5, 1], [2, 2, 0, 4]], { dtype: 'int32' });
    const picked = gather(transpose(h), tensor([1, 7, 7, 2], { dtype: 'int32' }));
    const scattered = scatterAdd(full([2, 24], 0.5), idx, slice(picked, [0, 0], [2, 4]), 1);
    const added = indexAdd(full([24, 6], 0), tensor([3, 3, 5, 0, 1, 1], { dtype: 'int32' }), transpose(h), 1);
    const both = concat([softmax(h, 0), transpose(added)], 0);
    const targets = tensor([0, 5, 23, 2, 2, 9, 11, 12, 1, 0, 4, 4], { dtype: 'int32' });
    const loss = crossEntropy(both, targets).add(sum(scattered).mul(0.01)).add(sum(topk(h, 3).values).mul(0.001));
    loss.backward();
    const hot = oneHot(topk(h, 2).indices, 24);
    const others = [
      argmax(h, 1), cast(h, 'int32'), cast(h, 'float64'), max(h, 0), min(h, 1), logsumexp(h, 0), exp(h),
      where(gt(h, 0), h, full([24], -1)), broadcastTo(full([1, 24], 2), [70, 24]), takeAlongAxis(h, topk(h, 3, 0).indices, 0),
      copy(h),
    ];
    return [loss, h, scattered, added, hot, x.grad!, w.grad!, ...others].map((t: Tensor) => Array.from(t.dataSync()));
  });
}

/** Fills the pool with arrays of every length from 64 to 2048. */
function fillPool(): void {
  tidy(() => {
    for (let n = 64; n <= 2048; n++) {
      full([n], 1);
      full([n], 1, 'float64');
      full([n], 1, 'int32');
    }
  });
}

describe('the CPU backend\'s pool of freed arrays', () => {
  it('hands a disposed tensor\'s array to the next output of its dtype and length', () => {
    expect(getBackend().name).toBe('cpu');
    const a = full([1000], 3);
    const before = arrayPool();
    a.dispose();
    expect(arrayPool()).toMatchObject({ arrays: before.arrays + 1, bytes: before.bytes + pooledBytes(4000) });
    const b = full([1000], 1);
    expect(arrayPool()).toMatchObject({ arrays: before.arrays, bytes: before.bytes });
    b.dispose();
  });

  it('gives the same results from arrays of garbage as from fresh ones: every kernel writes every element it does not zero', () => {
    setArrayPoolBytes(0);
    const fresh = program();
    setArrayPoolBytes(DEFAULT_BYTES);
    poisonArrayPool(true);
    try {
      expect(program()).toEqual(fresh);
    } finally {
      poisonArrayPool(false);
    }
  });

  it('never reuses an array that dataSync handed out, or one the user gave', () => {
    const a = full([500], 2);
    const seen = a.dataSync();
    const mine = new Float32Array(500).fill(4);
    const b = fromArray(mine);
    const before = arrayPool();
    a.dispose();
    b.dispose();
    // Storage in the wasm heap is read out as a copy, so it goes back to the pool; a plain array read out does not.
    const inHeap = tensorHeap() !== null;
    expect(seen.buffer instanceof SharedArrayBuffer).toBe(false);
    expect(arrayPool()).toEqual(inHeap ? { ...before, arrays: before.arrays + 1, bytes: before.bytes + pooledBytes(2000) } : before);
    tidy(() => { for (let i = 0; i < 4; i++) full([500], -1); });
    expect(seen.every((v) => v === 2)).toBe(true);
    expect(mine.every((v) => v === 4)).toBe(true);
  });

  it('is bounded, is left out of memory(), and refuses a bad bound', () => {
    fillPool();
    const live = memory();
    setArrayPoolBytes(10_000);
    expect(arrayPool().bytes).toBeLessThanOrEqual(10_000);
    expect(memory()).toEqual(live);
    tidy(() => { for (let i = 0; i < 100; i++) full([700], 1); });
    expect(arrayPool().bytes).toBeLessThanOrEqual(10_000);
    setArrayPoolBytes(0);
    expect(arrayPool()).toMatchObject({ arrays: 0, bytes: 0 });
    expect(() => setArrayPoolBytes(-1)).toThrow(/setArrayPoolBytes: maxBytes must be a finite number ≥ 0, got -1/);
    expect(() => setArrayPoolBytes(Number.NaN)).toThrow(/setArrayPoolBytes/);
  });
});
