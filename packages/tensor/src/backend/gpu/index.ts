import type { DType, TypedArray } from '../../dtype.js';
import { sizeOf, splitAtAxis, type Shape } from '../../shape.js';
import type { IKernelRunShortcut } from 'gpu.js';
import type { Backend, DataHandle, KernelInput, ReduceOp } from '../backend.js';
import { registerKernels } from '../registry.js';
import { isPending, KernelCache, type Device, type DeviceArray, type KernelArg } from './kernel-cache.js';
import { gpuKernels } from './kernels.js';
import { resolveMode, type GpuMode, type GpuOptions } from './modes.js';
import { onDevice } from './residency.js';
import * as src from './sources.js';

export { GPU_MODES, type GpuMode, type GpuOptions } from './modes.js';
export { MAX_DEVICE_LENGTH } from './residency.js';

/**
 * A tensor's data on the gpu backend. float32 and int32 live on the device as float32 (gpu.js
 * computes in single precision; integers are exact below 2^24); float64, empty tensors and
 * tensors longer than MAX_DEVICE_LENGTH stay on the host and every kernel touching them runs on
 * the CPU path. `host` caches a readback.
 * Under the async contract `device` is a promise until the kernel that makes it has run.
 */
export class GpuHandle {
  constructor(
    readonly dtype: DType,
    readonly length: number,
    public device: Device | null,
    public host: TypedArray | null,
  ) {}
}

const isTexture = (d: DeviceArray): d is Exclude<DeviceArray, Float32Array> => !(d instanceof Float32Array);
/**
 * The gpu.js backend: data on the device between kernels, read back only by `read` (or
 * `readAsync`). Its kernels are in kernels.ts; what it does not run (float64, empty tensors,
 * tensors over MAX_DEVICE_LENGTH, argmax/argmin, topk, integer division) runs on the CPU kernels
 * through the registry's fallback; see the package README's kernel table.
 *
 * With `async`, every kernel runs under gpu.js's async contract and returns a promise; a kernel
 * whose inputs are pending is called once they settle, so the ops above never wait. Only
 * `readAsync` waits for the device; a synchronous read of a pending tensor is an error.
 */
export class GpuBackend implements Backend {
  readonly name = 'gpu';
  /** @internal */
  readonly cache: KernelCache;
  /** Device arrays (textures on GL) allocated and not yet freed. */
  liveDeviceArrays = 0;
  /** Under the async contract: settles once every kernel call made so far has run (or failed). */
  private queued: Promise<unknown> = Promise.resolve();

  constructor(mode: GpuMode, async = false) {
    this.cache = new KernelCache(mode, async);
  }

  /** The gpu.js mode the kernels run in, read from a compiled kernel. */
  get mode(): GpuMode {
    return this.cache.mode;
  }
  /** Kernels compiled so far; a cached kernel is never compiled twice. */
  get compiles(): number {
    return this.cache.compiles;
  }
  /** Whether kernels run under gpu.js's async contract. */
  get async(): boolean {
    return this.cache.async;
  }

  upload(values: TypedArray, dtype: DType): DataHandle {
    if (!onDevice(dtype, values.length)) return new GpuHandle(dtype, values.length, null, values);
    const f32 = values instanceof Float32Array ? values : Float32Array.from(values);
    return new GpuHandle(dtype, values.length, this.toDevice(f32), values);
  }

  read(handle: DataHandle, dtype: DType): TypedArray {
    const h = this.own(handle);
    if (h.host) return h.host;
    const d = h.device!;
    if (isPending(d)) {
      throw new Error("gpu backend (async): this tensor's kernel has not run yet; read it with await x.data() or await x.array()");
    }
    return this.keepHost(h, d, dtype);
  }

  /** The asynchronous readback behind `await x.data()`: the one place that awaits the device. */
  async readAsync(handle: DataHandle, dtype: DType): Promise<TypedArray> {
    const h = this.own(handle);
    if (h.host) return h.host;
    const d = await h.device!;
    // A texture's readback is synchronous in gpu.js 2.x; under the async contract the kernel
    // call itself is what the promise waited for.
    return h.host ?? this.keepHost(h, d, dtype);
  }

  write(handle: DataHandle, values: TypedArray): void {
    const h = this.own(handle);
    if (!h.device) {
      h.host!.set(values);
      return;
    }
    this.release(h.device);
    h.device = this.toDevice(Float32Array.from(values));
    h.host = null;
  }

  /** In-place overwrite from another tensor's data, kept on the device (optimizer updates). */
  assign(handle: DataHandle, from: KernelInput): void {
    const h = this.own(handle);
    if (!h.device) {
      h.host!.set(this.read(from.handle, from.dtype));
      return;
    }
    const copy = this.run('copy', src.copy, from.shape, [from]);
    this.release(h.device);
    h.device = copy.device;
    h.host = null;
  }

  free(handle: DataHandle): void {
    const h = this.own(handle);
    if (h.device) this.release(h.device);
    h.device = null;
    h.host = null;
  }

  /** Destroys every kernel and the gpu.js instance. */
  destroy(): void {
    this.cache.destroy();
  }

  // ---------- what the kernels below use ----------

  /** @internal The device array behind a kernel input (the kernels run only on accepted inputs). */
  device(x: KernelInput): Device {
    return this.own(x.handle).device!;
  }

  /** @internal Runs the kernel cached under `key` (compiling `source` on a miss) over device operands. */
  run(
    key: string, source: () => string, outShape: Shape, inputs: readonly KernelInput[],
    extra: KernelArg[] = [], dtype: DType = inputs[0]!.dtype,
  ): GpuHandle {
    const n = sizeOf(outShape);
    const kernel = this.cache.get(key, source, n);
    return this.wrap(dtype, n, this.call(kernel, inputs.map((x) => this.device(x)), extra));
  }

  /** @internal Calls `kernel` on `args`, at once, or once the pending ones have settled. */
  call(kernel: IKernelRunShortcut, args: readonly Device[], extra: readonly KernelArg[] = []): Device {
    const out = args.some(isPending)
      ? Promise.all(args).then((ready) => kernel(...ready, ...extra) as Device)
      : kernel(...(args as readonly DeviceArray[]), ...extra) as Device;
    if (isPending(out)) this.queued = Promise.all([this.queued, out.catch(() => {})]);
    return out;
  }

  /**
   * @internal Reduces `axis` of x away in passes: each reduces blocks of REDUCE_BLOCK elements
   * to one, until one is left per line ([outer, 1, inner] has the layout of the output).
   */
  reduceTree(op: ReduceOp, x: KernelInput, axis: number): GpuHandle {
    const [outer, len, inner] = splitAtAxis(x.shape, axis);
    const blocks = Math.ceil(len / src.REDUCE_BLOCK);
    const partial = this.run(`reduce:${op}:${x.shape}:${axis}`, () => src.reduce(op, x.shape, axis), [outer, blocks, inner], [x]);
    if (blocks === 1) return partial;
    try {
      return this.reduceTree(op, { handle: partial, shape: [outer, blocks, inner], dtype: x.dtype }, 1);
    } finally {
      this.free(partial);
    }
  }

  /**
   * @internal softmax and logsumexp share their first three kernels: the line maxima, exp(x − max)
   * and its line sums.
   */
  withLineStats<T>(x: KernelInput, axis: number, finish: (max: KernelInput, exps: KernelInput, sum: KernelInput) => T): T {
    const lineShape = x.shape.filter((_, d) => d !== axis);
    const max = { handle: this.reduceTree('max', x, axis), shape: lineShape, dtype: x.dtype };
    const exps = { handle: this.run(`expShifted:${x.shape}:${axis}`, () => src.expShifted(x.shape, axis), x.shape, [x, max]), shape: x.shape, dtype: x.dtype };
    const sum = { handle: this.reduceTree('sum', exps, axis), shape: lineShape, dtype: x.dtype };
    try {
      return finish(max, exps, sum);
    } finally {
      for (const h of [max, exps, sum]) this.free(h.handle);
    }
  }

  /** @internal Wraps a kernel's result as a handle of `n` elements of `dtype`. */
  wrap(dtype: DType, n: number, out: unknown): GpuHandle {
    return new GpuHandle(dtype, n, this.track(out as Device), null);
  }

  // ---------- internals ----------

  /** Reads `d` back into `h.host`, in `dtype`. */
  private keepHost(h: GpuHandle, d: DeviceArray, dtype: DType): TypedArray {
    const values = (isTexture(d) ? d.toArray() : d) as Float32Array;
    h.host = dtype === 'float32' ? values : Int32Array.from(values);
    return h.host;
  }

  private own(handle: DataHandle): GpuHandle {
    if (!(handle instanceof GpuHandle)) throw new Error('gpu backend: not a gpu backend handle');
    return handle;
  }

  private toDevice(values: Float32Array): Device {
    const k = this.cache.get('upload', src.copy, values.length);
    return this.track(this.call(k, [values]));
  }

  private track(d: Device): Device {
    this.liveDeviceArrays++;
    return d;
  }

  /**
   * Frees a device array. Under the async contract, only once every kernel call made so far has
   * run: a consumer queued before the free may still read it (a failed kernel left nothing).
   */
  private release(d: Device): void {
    this.liveDeviceArrays--;
    const free = (ready: DeviceArray) => { if (isTexture(ready)) ready.delete(); };
    if (this.async) Promise.all([d, this.queued]).then(([ready]) => free(ready), () => {});
    else free(d as DeviceArray);
  }
}

const backends = new Map<string, GpuBackend>();

/**
 * The factory behind setBackend('gpu', opts): one backend (one gpu.js instance, one kernel cache)
 * per mode that really runs and contract (sync or async), shared by every setBackend call that
 * lands on it.
 */
export function gpuBackend(opts: GpuOptions = {}): GpuBackend {
  const mode = resolveMode(opts);
  const async = opts.async ?? false;
  const key = `${mode}:${async}`;
  let b = backends.get(key);
  if (!b) {
    b = new GpuBackend(mode, async);
    backends.set(key, b);
  }
  return b;
}

registerKernels('gpu', gpuKernels);
