import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { wasmSimd } from '@switch-ts/tensor/testing';
import type { BatchOffsets } from '../src/backend/cpu/matmul.js';
import { BLOCKING, TILE, WasmMatmul } from '../src/backend/cpu/wasm/matmul.js';

/**
 * The wasm matmul reads B where it is, unpacked, when A has few rows (src/backend/cpu/wasm/
 * matmul.ts, BLOCKING.directB). The kernel then adds the same products in the same order as
 * with B packed, so the two must agree bit for bit: on batches, past one k block (k > kc), with
 * A transposed or not, on one thread and on two.
 */

const packed = [new WasmMatmul(1, TILE, { ...BLOCKING, directB: 0 }), new WasmMatmul(2, TILE, { ...BLOCKING, directB: 0 })];
const direct = [new WasmMatmul(1, TILE, { ...BLOCKING, directB: Infinity }), new WasmMatmul(2, TILE, { ...BLOCKING, directB: Infinity })];
afterAll(() => { for (const mm of [...packed, ...direct]) mm.close(); });

const shapes = fc.record({
  m: fc.integer({ min: 1, max: 70 }),
  n: fc.integer({ min: 1, max: 40 }).map((p) => 8 * p),
  k: fc.oneof(fc.integer({ min: 1, max: 70 }), fc.integer({ min: 250, max: 600 })),
  batches: fc.integer({ min: 1, max: 3 }),
  transA: fc.boolean(),
  threads: fc.constantFrom(0, 1),
  seed: fc.integer(),
});

describe.skipIf(!wasmSimd())('wasm matmul with B read in place', () => {
  it('gives the bits of the packed path', async () => {
    // The workers start in the background: products run on one thread until they are ready.
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(direct[1]!.readyThreads).toBe(2);
    fc.assert(fc.property(shapes, ({ m, n, k, batches, transA, threads, seed }) => {
      let s = seed;
      const random = () => ((s = (Math.imul(s, 1103515245) + 12345) | 0) >>> 8) / 2 ** 23 - 1;
      const a = Float32Array.from({ length: batches * m * k }, random), b = Float32Array.from({ length: batches * k * n }, random);
      const offsets: BatchOffsets[] = Array.from({ length: batches }, (_, i) => [i * m * k, i * k * n, i * m * n]);
      const product = (mm: WasmMatmul) => {
        const out = new Float32Array(batches * m * n);
        const ok = mm.run({ data: a, offset: 0, rowStride: transA ? 1 : k, kStride: transA ? m : 1 }, { data: b, offset: 0, rowStride: 1, kStride: n }, out, m, n, k, offsets);
        expect(ok).toBe(true);
        return out;
      };
      const want = product(packed[threads]!), got = product(direct[threads]!);
      for (let i = 0; i < want.length; i++) if (!Object.is(got[i], want[i])) expect.fail(`[${m}, ${k}]·[${k}, ${n}] ×${batches}: element ${i} is ${got[i]}, packed ${want[i]}`);
    }), { numRuns: 150 });
  });
});
