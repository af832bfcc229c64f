import { arrayView, dtypeOfArray, type DType, type TypedArray } from '../../../dtype.js';
import { PAGE, wasmApi, type WasmMemory } from './api.js';

/**
 * A WebAssembly memory that CPU tensors live in, so that the wasm kernels (matmul, the elementwise
 * loops, the optimizers' steps) read and write tensors where they are: the array pool (../pool.ts)
 * takes its arrays from here, as views on the memory's buffer. Without it every wasm call copies
 * its operands in and its result out: memcpys that cost as much as the SIMD loop itself on large
 * tensors (a 327,680-element mul: 2.8 ns per element with the copies, against ~0.4 without).
 *
 * The memory is shared (a SharedArrayBuffer): growing a plain wasm memory detaches its buffer, and
 * with it every tensor's view; a shared one grows in place and old views stay valid. So the heap
 * exists only where SharedArrayBuffer does (Node; a cross-origin isolated page); elsewhere the pool
 * allocates plain typed arrays and the kernels copy, as before.
 *
 * The allocator is first fit over blocks of whole 64-byte lines (a cache line, and every block
 * 16-byte aligned for v128 loads): free blocks are kept in bins by power of two, a freed block
 * merges with free neighbours, and one that reaches the top lowers it. Memory grows but never
 * shrinks (wasm cannot give pages back); the pool above keeps the steady state of a training step
 * from coming here at all.
 */

const LINE = 64;
/** The most the heap grows to: wasm32 addresses 4 GiB, a shared memory reserves its maximum up front. */
export const HEAP_MAX_BYTES = 2 ** 31;
const BINS = 32;

export class WasmHeap {
  readonly memory: WasmMemory;
  readonly maxPages = HEAP_MAX_BYTES / PAGE;
  /** Every buffer the memory has had: a view's buffer is one of them exactly when it lives here. */
  private readonly buffers = new WeakSet<ArrayBufferLike>();
  private top = LINE; // address 0 stays unused, so that no block starts at 0
  private readonly sizes = new Map<number, number>();
  private readonly freeAt = new Map<number, number>();
  private readonly freeEndingAt = new Map<number, number>();
  private readonly bins = Array.from({ length: BINS }, () => new Set<number>());
  /** Bytes in allocated blocks (for tests). */
  allocated = 0;

  constructor(private readonly isShared: boolean) {
    const api = wasmApi();
    if (!api) throw new Error('WasmHeap: this runtime has no WebAssembly');
    this.memory = new api.Memory(isShared ? { initial: 1, maximum: this.maxPages, shared: true } : { initial: 1 });
    this.buffers.add(this.memory.buffer);
  }

  /** Whether this is a shared memory, which a module must import as shared with its maximum. */
  get shared(): { maxPages: number } | undefined {
    return this.isShared ? { maxPages: this.maxPages } : undefined;
  }

  /**
   * Compiles the module `write` makes for this memory (given `shared` as above) and instantiates
   * it on the memory: the module (for workers to instantiate too) and its exports.
   */
  instantiate<Exports>(write: (shared?: { maxPages: number }) => Uint8Array): { module: object; exports: Exports } {
    const api = wasmApi()!;
    const module = new api.Module(write(this.shared));
    return { module, exports: new api.Instance(module, { env: { memory: this.memory } }).exports as Exports };
  }

  /** Where `array` starts in this memory, in bytes, or −1 if it lives elsewhere. */
  addressOf(array: TypedArray): number {
    return this.buffers.has(array.buffer) ? array.byteOffset : -1;
  }

  /** A view of `length` elements of `dtype` on the block at `address`. */
  view(dtype: DType, address: number, length: number): TypedArray {
    return arrayView(dtype, this.memory.buffer, address, length);
  }

  /** A block of at least `bytes` bytes; its address, or −1 where the memory cannot grow to it. */
  alloc(bytes: number): number {
    const size = Math.max(LINE, Math.ceil(bytes / LINE) * LINE);
    const found = this.firstFit(size);
    let address: number;
    if (found >= 0) {
      address = found;
      const have = this.freeAt.get(found)!;
      this.unlinkFree(found, have);
      if (have > size) this.linkFree(found + size, have - size);
    } else {
      if (!this.reserve(this.top + size)) return -1;
      address = this.top;
      this.top += size;
    }
    this.sizes.set(address, size);
    this.allocated += size;
    return address;
  }

  /** Gives the block at `address` back, merged with free neighbours. */
  free(address: number): void {
    let size = this.sizes.get(address);
    if (size === undefined) throw new Error(`WasmHeap.free: no block at ${address}`);
    this.sizes.delete(address);
    this.allocated -= size;
    let start = address;
    const before = this.freeEndingAt.get(start);
    if (before !== undefined) {
      const beforeSize = this.freeAt.get(before)!;
      this.unlinkFree(before, beforeSize);
      start = before;
      size += beforeSize;
    }
    const afterSize = this.freeAt.get(start + size);
    if (afterSize !== undefined) {
      this.unlinkFree(start + size, afterSize);
      size += afterSize;
    }
    if (start + size === this.top) this.top = start;
    else this.linkFree(start, size);
  }

  /**
   * Runs `compute` on the byte addresses of `arrays`, first copying into blocks of the heap those
   * that live elsewhere, and after it copying back out those of them that are in `written`. False,
   * having done nothing, where the heap cannot hold the copies.
   */
  withAddresses(arrays: readonly TypedArray[], written: readonly TypedArray[], compute: (addresses: number[]) => void): boolean {
    const copies: { array: TypedArray; at: number }[] = [];
    const addresses = arrays.map((array) => {
      const home = this.addressOf(array);
      if (home >= 0) return home;
      const at = this.alloc(array.byteLength);
      if (at >= 0) copies.push({ array, at });
      return at;
    });
    const placed = addresses.every((at) => at >= 0);
    if (placed) {
      for (const { array, at } of copies) this.view(dtypeOfArray(array)!, at, array.length).set(array);
      compute(addresses);
      for (const { array, at } of copies) if (written.includes(array)) array.set(this.view(dtypeOfArray(array)!, at, array.length));
    }
    for (const { at } of copies) this.free(at);
    return placed;
  }

  /**
   * Runs `use` on a scratch block of `bytes`, freed after it, and returns what `use` returns; false,
   * having done nothing, where the heap cannot hold the block.
   */
  withBlock(bytes: number, use: (address: number) => boolean): boolean {
    const at = this.alloc(bytes);
    if (at < 0) return false;
    try {
      return use(at);
    } finally {
      this.free(at);
    }
  }

  /** The memory's size in bytes (what the heap has grown to). */
  get bytes(): number {
    return this.memory.buffer.byteLength;
  }

  private firstFit(size: number): number {
    for (let bin = binOf(size); bin < BINS; bin++) {
      // Blocks in the request's own bin may be smaller than it; in every later bin all are larger.
      for (const at of this.bins[bin]!) if (this.freeAt.get(at)! >= size) return at;
    }
    return -1;
  }

  private linkFree(at: number, size: number): void {
    this.freeAt.set(at, size);
    this.freeEndingAt.set(at + size, at);
    this.bins[binOf(size)]!.add(at);
  }

  private unlinkFree(at: number, size: number): void {
    this.freeAt.delete(at);
    this.freeEndingAt.delete(at + size);
    this.bins[binOf(size)]!.delete(at);
  }

  private reserve(bytes: number): boolean {
    const have = this.memory.buffer.byteLength;
    if (bytes <= have) return true;
    if (bytes > HEAP_MAX_BYTES) return false;
    try {
      this.memory.grow(Math.ceil((bytes - have) / PAGE));
    } catch {
      return false; // the system refused the pages: callers fall back to plain arrays
    }
    this.buffers.add(this.memory.buffer);
    return true;
  }
}

const binOf = (size: number): number => 31 - Math.clz32(size);

let shared: WasmHeap | null | undefined;

/**
 * The process's (or worker's) heap for tensor storage, created on first use; null where memory
 * cannot be shared (no SharedArrayBuffer) or there is no WebAssembly.
 */
export function tensorHeap(): WasmHeap | null {
  if (shared === undefined) {
    try {
      shared = typeof SharedArrayBuffer === 'function' && wasmApi() ? new WasmHeap(true) : null;
    } catch {
      shared = null; // a runtime without shared wasm memory
    }
  }
  return shared;
}

let scratch: WasmHeap | undefined;

/**
 * The heap the wasm kernels run on: the tensor heap, or, where there is none, one plain memory of
 * their own, shared by every kernel module, that they copy their operands into.
 */
export function kernelHeap(): WasmHeap {
  return tensorHeap() ?? (scratch ??= new WasmHeap(false));
}
