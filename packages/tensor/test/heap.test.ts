import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { arrayPool, fromArray, full, matmul, randn, Rng, setArrayPoolBytes, tensor, tidy } from '@switch-ts/tensor';
import { tensorHeap } from '@switch-ts/tensor/testing';
import { WasmHeap } from '../src/backend/cpu/wasm/heap.js';

/**
 * The wasm heap that CPU tensors live in where memory can be shared (src/backend/cpu/wasm/heap.ts):
 * its allocator, on random sequences of allocations and frees, and what the tensors see of it.
 */

type Step = { alloc: number } | { free: number };

const steps = fc.array(fc.oneof(
  fc.record({ alloc: fc.oneof(fc.integer({ min: 1, max: 300 }), fc.integer({ min: 1, max: 200_000 })) }),
  fc.record({ free: fc.nat() }),
), { maxLength: 120 });

describe('the wasm heap allocator', () => {
  it('hands out aligned blocks that never overlap, reuses freed ones, and shrinks back to empty', () => {
    fc.assert(fc.property(steps, fc.boolean(), (program, shared) => {
      const heap = new WasmHeap(shared);
      const live = new Map<number, number>(); // address → bytes asked for
      let highest = heap.bytes;
      for (const step of program) {
        if ('alloc' in step) {
          const at = heap.alloc(step.alloc);
          expect(at).toBeGreaterThan(0);
          expect(at % 64).toBe(0);
          for (const [other, bytes] of live) expect(at + step.alloc <= other || other + bytes <= at).toBe(true);
          expect(at + step.alloc).toBeLessThanOrEqual(heap.bytes);
          live.set(at, step.alloc);
          highest = Math.max(highest, heap.bytes);
        } else if (live.size > 0) {
          const at = [...live.keys()][step.free % live.size]!;
          heap.free(at);
          live.delete(at);
        }
      }
      for (const at of live.keys()) heap.free(at);
      expect(heap.allocated).toBe(0);
      // Everything merged back: one block as large as the memory fits again without growing it.
      const whole = heap.alloc(highest - 64);
      expect(whole).toBe(64);
      expect(heap.bytes).toBe(highest);
    }), { numRuns: 100 });
  });

  it('refuses a block past its maximum and says which block a bad free names', () => {
    const heap = new WasmHeap(false);
    expect(heap.alloc(2 ** 31 + 1)).toBe(-1);
    expect(() => heap.free(12_345)).toThrow(/WasmHeap.free: no block at 12345/);
  });
});

describe.skipIf(tensorHeap() === null)('CPU tensors in the wasm heap', () => {
  it('give the bits of tensors outside it (fromArray), which the wasm kernels copy in and out', () => {
    const rng = new Rng(4);
    const [a, b] = [randn([48, 40], rng), randn([40, 56], rng)].map((t) => Array.from(t.dataSync()));
    const inHeap = tidy(() => Array.from(matmul(tensor(a!, { shape: [48, 40] }), tensor(b!, { shape: [40, 56] })).relu().dataSync()));
    const outside = tidy(() => {
      // fromArray keeps the caller's arrays as the storage: they live outside the heap.
      const x = fromArray(Float32Array.from(a!), [48, 40]), y = fromArray(Float32Array.from(b!), [40, 56]);
      return Array.from(matmul(x, y).relu().dataSync());
    });
    expect(outside).toEqual(inHeap);
  });

  it('live in it, read out as copies, and give their blocks back when disposed', () => {
    const heap = tensorHeap()!;
    const poolBytes = arrayPool().maxBytes;
    setArrayPoolBytes(0); // no pool: a disposed tensor's block goes straight back to the heap
    try {
      const product = () => matmul(randn([64, 64], new Rng(1)), randn([64, 64], new Rng(2)));
      tidy(product); // the matmul's packing buffers, kept from its first call on
      const allocated = heap.allocated;
      const [x, y] = tidy(() => {
        const x = full([1000], 3), y = product().mul(2);
        expect(heap.allocated).toBeGreaterThan(allocated);
        for (const t of [x, y]) expect(heap.addressOf(t.dataSync())).toBe(-1);
        return [Array.from(x.dataSync()), Array.from(y.dataSync())];
      });
      expect(heap.allocated).toBe(allocated);
      expect(x.every((v) => v === 3)).toBe(true);
      expect(y).toEqual(Array.from(tidy(() => product().dataSync())).map((v) => v * 2));
    } finally {
      setArrayPoolBytes(poolBytes);
    }
  });
});
