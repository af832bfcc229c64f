import { allocArray, bytesPerElement, dtypeOfArray, type DType, type TypedArray } from '../../dtype.js';
import { tensorHeap, type WasmHeap } from './wasm/heap.js';

/**
 * A bounded pool of the typed arrays that disposed CPU tensors leave behind, handed out again to
 * kernels that need an output of the same dtype and length: as it was (`take`, for the kernels
 * that write every element) or zeroed (`zeros`, for pad and oneHot). A training step allocates
 * the same arrays every time, and a fresh large typed array is dear in V8: its memory comes zeroed
 * from the system page by page and counts as external memory, which triggers garbage collections.
 * Measured on the demo's training step (d_model 128): 16% of the step inside `new Float32Array`
 * and 6% in the collector, and its `mul`s took 4.8 ns per element, against 3.1 ns once their
 * outputs came from the pool.
 *
 * Only arrays the pool itself allocated come back to it, and only if nobody outside the tensor
 * layer can hold them: `dataSync()` hands out a plain array's storage itself (see CpuBackend.read),
 * so a read plain array is let go of (`escape`) and never reused, and arrays given by the user
 * (`fromArray`) are never pooled. `memory()` counts live tensors only; the pool's own bytes are `arrayPool()`.
 *
 * Where shared wasm memory exists (./wasm/heap.ts) the arrays are views on it, so that the wasm
 * kernels work on tensors in place. A view there is never handed out: `dataSync()` gets a copy
 * (CpuBackend.read). A view dropped without `give` (a tensor the garbage collector took, never
 * disposed) gives its block back when it is collected; such blocks come back only as fast as the
 * collector runs, which is why dispose and tidy matter more here than for plain arrays.
 */

/** Below this many bytes V8 allocates a typed array on its own heap, as cheap as a plain object: not pooled. */
export const POOL_MIN_BYTES = 256;

class ArrayPool {
  /**
   * Free plain arrays by dtype and length, and free blocks of the wasm heap by size class (any
   * dtype and length of that class takes a new view on one); the last freed goes out first (warm
   * in cache). A class spans an eighth of a power of two, so that the tensors whose lengths move a
   * little from step to step (an expert's share of the tokens) reuse each other's blocks.
   */
  private readonly free = new Map<string, (TypedArray | number)[]>();
  /** Arrays this pool allocated that no one outside the tensor layer has seen. */
  private readonly owned = new WeakSet<TypedArray>();
  bytes = 0;
  arrays = 0;
  maxBytes = 256 * 2 ** 20;
  /** For tests: `take` fills every array it hands out with garbage, so that an element a kernel forgets to write shows. */
  poison = false;

  /**
   * An array of `length` elements of `dtype` holding whatever its last tensor left in it: for a
   * kernel that writes every element. (Zeroing what it will overwrite cost 7% of a training step.)
   */
  take(dtype: DType, length: number): TypedArray {
    const array = this.fromHeap(dtype, length) ?? this.plain(dtype, length);
    return this.poison ? array.fill(dtype === 'int32' ? -7 : Number.NaN) : array;
  }

  /** An array of `length` zeros of `dtype`, for a kernel that writes only some elements. */
  zeros(dtype: DType, length: number): TypedArray {
    return this.take(dtype, length).fill(0);
  }

  /** A view on a block of the heap, pooled or new; undefined for small arrays, without a heap, or when it is full. */
  private fromHeap(dtype: DType, length: number): TypedArray | undefined {
    const bytes = length * bytesPerElement(dtype);
    const heap = tensorHeap();
    if (!heap || bytes < POOL_MIN_BYTES) return undefined;
    const size = blockSize(bytes);
    const address = (this.pop(`block:${size}`, size) as number | undefined) ?? heap.alloc(size);
    // A full heap leaves the array to the JS heap, where the kernels copy it in and out.
    if (address < 0) return undefined;
    const array = heap.view(dtype, address, length);
    collected.register(array, { heap, address }, array);
    this.owned.add(array);
    return array;
  }

  private plain(dtype: DType, length: number): TypedArray {
    const reused = this.pop(key(dtype, length), length * bytesPerElement(dtype)) as TypedArray | undefined;
    if (reused) return reused;
    const array = allocArray(dtype, length);
    if (array.byteLength >= POOL_MIN_BYTES) this.owned.add(array);
    return array;
  }

  private pop(k: string, bytes: number): TypedArray | number | undefined {
    const entry = this.free.get(k)?.pop();
    if (entry !== undefined) {
      this.bytes -= bytes;
      this.arrays--;
    }
    return entry;
  }

  /**
   * Keeps `array` (or, for a view on the heap, its block) for a later `take`, if the pool owns it
   * and has room; a block it has no room for goes back to the heap.
   */
  give(array: TypedArray): void {
    if (!this.owned.has(array)) return;
    const heap = tensorHeap();
    const address = heap?.addressOf(array) ?? -1;
    if (address >= 0) {
      this.owned.delete(array);
      collected.unregister(array);
      const size = blockSize(array.byteLength);
      if (this.bytes + size > this.maxBytes) heap!.free(address);
      else this.push(`block:${size}`, address, size);
    } else if (this.bytes + array.byteLength <= this.maxBytes) {
      this.push(key(dtypeOfArray(array)!, array.length), array, array.byteLength);
    }
  }

  private push(k: string, entry: TypedArray | number, bytes: number): void {
    let list = this.free.get(k);
    if (!list) this.free.set(k, (list = []));
    list.push(entry);
    this.bytes += bytes;
    this.arrays++;
  }

  /** `array` is now seen outside the tensor layer: never hand it out again. */
  escape(array: TypedArray): void {
    this.owned.delete(array);
  }

  /** Drops pooled arrays and blocks (back to the heap) until at most `maxBytes` are kept. */
  trim(): void {
    for (const [k, list] of this.free) {
      while (this.bytes > this.maxBytes && list.length > 0) {
        const entry = list.pop()!;
        if (typeof entry === 'number') {
          this.bytes -= Number(k.slice('block:'.length));
          tensorHeap()!.free(entry);
        } else {
          this.bytes -= entry.byteLength;
          this.owned.delete(entry);
        }
        this.arrays--;
      }
      if (list.length === 0) this.free.delete(k);
    }
  }
}

/** The heap block for `bytes`: rounded up to an eighth of its power of two, and to whole 64-byte lines. */
function blockSize(bytes: number): number {
  const step = Math.max(64, 2 ** (31 - Math.clz32(bytes)) / 8);
  return Math.ceil(bytes / step) * step;
}

/** Blocks of the heap whose view was collected without being given back. */
const collected = new FinalizationRegistry<{ heap: WasmHeap; address: number }>(({ heap, address }) => heap.free(address));

const key = (dtype: DType, length: number) => `${dtype}:${length}`;

export const arrays = new ArrayPool();

/** For tests (@switch-ts/tensor/testing): every output array the CPU kernels take starts as garbage while `on`. */
export function poisonArrayPool(on: boolean): void {
  arrays.poison = on;
}

/** The CPU backend's pool of freed arrays: how many it keeps, their bytes, and its bound. */
export function arrayPool(): { arrays: number; bytes: number; maxBytes: number } {
  return { arrays: arrays.arrays, bytes: arrays.bytes, maxBytes: arrays.maxBytes };
}

/**
 * Bounds the pool of freed arrays at `maxBytes` (default 256 MiB; 0 turns pooling off), dropping
 * what is over it. A training step reuses about what it allocates, so the default holds a step of
 * the demo's model several times over.
 */
export function setArrayPoolBytes(maxBytes: number): void {
  if (!(Number.isFinite(maxBytes) && maxBytes >= 0)) {
    throw new Error(`setArrayPoolBytes: maxBytes must be a finite number ≥ 0, got ${maxBytes}`);
  }
  arrays.maxBytes = maxBytes;
  arrays.trim();
}
