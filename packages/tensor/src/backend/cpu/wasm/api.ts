/** The part of the WebAssembly JS API the kernels use (tsconfig's ES2022 lib does not declare it). */
export interface WasmApi {
  validate(bytes: Uint8Array): boolean;
  Module: new (bytes: Uint8Array) => object;
  Instance: new (module: object, imports: object) => { exports: Record<string, unknown> };
  Memory: new (descriptor: { initial: number; maximum?: number; shared?: boolean }) => WasmMemory;
}

export interface WasmMemory {
  readonly buffer: ArrayBuffer;
  grow(pages: number): number;
}

/** Bytes in a wasm memory page. */
export const PAGE = 65536;

export function wasmApi(): WasmApi | undefined {
  return (globalThis as { WebAssembly?: WasmApi }).WebAssembly;
}

/** Which of a JS kernel and its wasm twin runs: 'auto' (wasm from a measured size up), or, for tests, always one. */
export type KernelPath = 'auto' | 'js' | 'wasm';

/** The switch between a JS kernel and its wasm twin (tests set it through @switch-ts/tensor/testing). */
export class KernelSwitch {
  private path: KernelPath = 'auto';

  /** `minWork`: the size from which 'auto' takes the wasm kernel (measured where it is given). */
  constructor(private readonly minWork: number) {}

  /** Sets the path; returns the previous one. */
  set(next: KernelPath): KernelPath {
    const previous = this.path;
    this.path = next;
    return previous;
  }

  /** Whether the wasm kernel takes work of this size. */
  wasm(work: number): boolean {
    return this.path === 'wasm' || (this.path === 'auto' && work >= this.minWork);
  }
}
