import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import * as T from '@switch-ts/tensor';
import { getThreads, setThreads } from '@switch-ts/tensor';
import { matmulThreads, THREAD_MIN_WORK, wasmSimd } from '@switch-ts/tensor/testing';
import * as A from './arbitraries.js';

/**
 * The float32 matmul split over threads (packages/tensor/src/backend/cpu/wasm/threads.ts): each
 * element of C is computed by the same instructions in the same order whichever thread computes
 * it, so the product is bitwise the same on 1, 2 and 3 threads. Its accuracy against the float64
 * product is test/matmul.wasm.test.ts's, which runs with the default thread count.
 */

const defaultThreads = getThreads();
afterAll(() => setThreads(defaultThreads));

/** Sets `n` threads and waits until the workers have started, so that large products really split. */
async function useThreads(n: number): Promise<void> {
  setThreads(n);
  const deadline = Date.now() + 20_000;
  while (matmulThreads() !== n) {
    if (Date.now() > deadline) throw new Error(`${n} matmul threads did not start within 20 s`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/**
 * Products of at least THREAD_MIN_WORK multiply-adds (so they split), sides that are mostly not
 * multiples of the 4×8 tile, any transposes, broadcast batches; values from randn (the property
 * is about where each element is computed, not about special values).
 */
const cases = fc.record({
  m: fc.integer({ min: 1, max: 300 }), n: fc.integer({ min: 1, max: 300 }), k: fc.integer({ min: 1, max: 300 }),
  transA: fc.boolean(), transB: fc.boolean(), batch: A.broadcastPair({ maxRank: 1, maxDim: 2 }), seed: fc.integer(),
}).filter(({ m, n, k }) => m * n * k >= THREAD_MIN_WORK);
type Case = typeof cases extends fc.Arbitrary<infer C> ? C : never;

function product({ m, n, k, transA, transB, batch: [ba, bb], seed }: Case): Float32Array {
  return T.tidy(() => {
    const rng = new T.Rng(seed);
    const a = T.randn([...ba, ...(transA ? [k, m] : [m, k])], rng), b = T.randn([...bb, ...(transB ? [n, k] : [k, n])], rng);
    return T.matmulTransposed(a, b, transA, transB).dataSync().slice() as Float32Array;
  });
}

describe('float32 matmul on threads', () => {
  it('runs on wasm SIMD here, so the threads below are the ones that split it', () => {
    expect(wasmSimd()).toBe(true);
  });

  it('gives bitwise the same product on 1, 2 and 3 threads, for every transpose and broadcast batches', async () => {
    const samples = fc.sample(cases, { numRuns: 20 });
    const products: Float32Array[][] = [];
    for (const threads of [1, 2, 3]) {
      await useThreads(threads);
      products.push(samples.map(product));
    }
    for (const [t, perThread] of products.entries()) {
      for (const [i, product] of perThread.entries()) {
        expect(product, `${[1, 2, 3][t]} threads, case ${i}`).toEqual(products[0]![i]);
      }
    }
  });

  it('gives the same training step on 1 and 2 threads (a matmul-heavy MLP, forward and backward)', async () => {
    const step = () => T.tidy(() => {
      const rng = new T.Rng(3);
      const x = T.randn([256, 192], rng), w1 = T.randn([192, 384], rng), w2 = T.randn([384, 64], rng);
      w1.requiresGrad = w2.requiresGrad = true;
      const loss = T.sum(T.square(T.matmul(T.relu(T.matmul(x, w1)), w2)));
      loss.backward();
      return [loss, w1.grad!, w2.grad!].map((g) => Array.from(g.dataSync()));
    });
    await useThreads(1);
    const one = step();
    await useThreads(2);
    expect(step()).toEqual(one);
  });

  it('runs on 1 thread unless told otherwise, and refuses a thread count that is not an integer from 1 to 64', () => {
    for (const bad of [0, -1, 1.5, 65, Number.NaN]) {
      expect(() => setThreads(bad)).toThrow(new RegExp(`setThreads: n must be an integer from 1 to 64, got ${bad}`));
    }
    expect(defaultThreads).toBe(1);
  });
});
