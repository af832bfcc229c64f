import { allocArray, type DType, type TypedArray } from '../../dtype.js';
import { sizeOf, type Shape } from '../../shape.js';
import type { IKernelRunShortcut } from 'gpu.js';
import type { Backend, BinaryOp, DataHandle, KernelInput, ReduceOp, UnaryOp } from '../backend.js';
import { CpuBackend } from '../cpu/index.js';
import { KernelCache, type Device, type DeviceArray, type KernelArg } from './kernels.js';
import { resolveMode, type GpuMode, type GpuOptions } from './modes.js';
import * as src from './sources.js';

export { GPU_MODES, type GpuMode, type GpuOptions } from './modes.js';

/**
 * A tensor's data on the gpu backend. float32 and int32 live on the device as float32 (gpu.js
 * computes in single precision; integers are exact below 2^24); float64, empty tensors and
 * tensors longer than MAX_DEVICE_LENGTH stay on the host and every kernel touching them runs on
 * the CPU path. `host` caches a readback.
 * Under the async contract `device` is a promise until the kernel that makes it has run.
 */
class GpuHandle {
  constructor(
    readonly dtype: DType,
    readonly length: number,
    public device: Device | null,
    public host: TypedArray | null,
  ) {}
}

/**
 * The longest array a kernel indexes exactly. gpu.js computes indices in float32 (webasm and GL
 * alike), and the kernels split a flat index i into coordinates with floor((i + 0.5) / stride),
 * exact only while i + 0.5 is representable: i < 2^23. Beyond that, elements would be read from
 * the wrong place without any error, so longer tensors stay on the host and take the CPU path.
 */
export const MAX_DEVICE_LENGTH = 2 ** 23;

const onDevice = (dtype: DType, length: number): boolean => dtype !== 'float64' && length > 0 && length <= MAX_DEVICE_LENGTH;
const isTexture = (d: DeviceArray): d is Exclude<DeviceArray, Float32Array> => !(d instanceof Float32Array);
const isPending = (d: Device): d is Promise<DeviceArray> => d instanceof Promise;
/** `f` applied to a device array, now or, for a pending one, once it is there. */
const mapDevice = <T>(d: Device, f: (d: DeviceArray) => T): T | Promise<T> => (isPending(d) ? d.then(f) : f(d));

/**
 * The flat Float32Array behind an Array(n)-returning webasm kernel's result. gpu.js copies the
 * output region into one fresh Float32Array and hands back nested rows of `subarray` views of it
 * (web-assembly/kernel.js `_shapeOutput`), so the first view's buffer is the whole result.
 */
function packedOf(out: DeviceArray, length: number): Float32Array {
  let first: unknown = out;
  while (!(first instanceof Float32Array)) first = (first as ArrayLike<unknown>)[0];
  if (first.byteOffset !== 0 || first.buffer.byteLength !== length * 4) {
    throw new Error('gpu backend: unexpected layout of a webasm Array(4) kernel result');
  }
  return new Float32Array(first.buffer);
}

/**
 * The gpu.js backend: every kernel of the Backend interface as a gpu.js kernel, results kept on
 * the device between kernels, read back only by `read` (or `readAsync`). The CPU path (cpu/)
 * serves float64, empty tensors, tensors over MAX_DEVICE_LENGTH, argmax/argmin, topk and integer
 * division; see the package README.
 *
 * With `async`, every kernel runs under gpu.js's async contract and returns a promise; a kernel
 * whose inputs are pending is called once they settle, so the ops above never wait. Only
 * `readAsync` waits for the device; a synchronous read of a pending tensor is an error.
 */
export class GpuBackend implements Backend {
  readonly name = 'gpu';
  private readonly cache: KernelCache;
  private readonly cpu = new CpuBackend();
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

  fill(shape: Shape, value: number, dtype: DType): DataHandle {
    const n = sizeOf(shape);
    if (!onDevice(dtype, n)) return new GpuHandle(dtype, n, null, allocArray(dtype, n).fill(value));
    const k = this.cache.get('fill', src.fill, n, { value: 'Float' });
    return this.wrap(dtype, n, this.call(k, [], [value]));
  }

  cast(x: KernelInput, dtype: DType): DataHandle {
    if (!this.runsOnDevice([x], dtype)) return this.onCpu(dtype, [x], ([a]) => this.cpu.cast(a!, dtype));
    const truncate = dtype === 'int32' && x.dtype !== 'int32';
    return this.run(truncate ? 'trunc' : 'copy', truncate ? src.trunc : src.copy, x.shape, [x], [], dtype);
  }

  unary(op: UnaryOp, x: KernelInput): DataHandle {
    if (!this.runsOnDevice([x], x.dtype)) return this.onCpu(x.dtype, [x], ([a]) => this.cpu.unary(op, a!));
    return this.run(`unary:${op}`, () => src.unary(op), x.shape, [x]);
  }

  binary(op: BinaryOp, a: KernelInput, b: KernelInput, outShape: Shape, outDtype: DType): DataHandle {
    // Integer division and power truncate in the CPU kernel (an Int32Array store); a float
    // quotient on the GPU can land a rounding below the integer and truncate one too low.
    const inexact = outDtype === 'int32' && (op === 'div' || op === 'pow');
    if (inexact || !this.runsOnDevice([a, b], outDtype, outShape)) {
      return this.onCpu(outDtype, [a, b], ([ha, hb]) => this.cpu.binary(op, ha!, hb!, outShape, outDtype));
    }
    return this.run(`binary:${op}:${a.shape}:${b.shape}`, () => src.binary(op, a.shape, b.shape, outShape), outShape, [a, b], [], outDtype);
  }

  where(cond: KernelInput, a: KernelInput, b: KernelInput, outShape: Shape): DataHandle {
    if (!this.runsOnDevice([cond, a, b], a.dtype, outShape)) {
      return this.onCpu(a.dtype, [cond, a, b], ([c, ha, hb]) => this.cpu.where(c!, ha!, hb!, outShape));
    }
    return this.run(`where:${cond.shape}:${a.shape}:${b.shape}`, () => src.where(cond.shape, a.shape, b.shape, outShape), outShape, [cond, a, b], [], a.dtype);
  }

  expand(x: KernelInput, outShape: Shape): DataHandle {
    if (!this.runsOnDevice([x], x.dtype, outShape)) return this.onCpu(x.dtype, [x], ([a]) => this.cpu.expand(a!, outShape));
    return this.run(`expand:${x.shape}`, () => src.expand(x.shape, outShape), outShape, [x]);
  }

  matmul(a: KernelInput, b: KernelInput, transA: boolean, transB: boolean, outShape: Shape): DataHandle {
    // webasm's tiled kernel writes rows in groups of TILE_ROWS: its output is m rounded up.
    const m = outShape[outShape.length - 2]!;
    const written = this.mode === 'webasm' ? [...outShape.slice(0, -2), Math.ceil(m / src.TILE_ROWS) * src.TILE_ROWS, outShape[outShape.length - 1]!] : outShape;
    if (!this.runsOnDevice([a, b], a.dtype, written)) {
      return this.onCpu(a.dtype, [a, b], ([ha, hb]) => this.cpu.matmul(ha!, hb!, transA, transB, outShape));
    }
    if (this.mode === 'webasm') return this.matmulTiled(a, b, transA, transB, outShape);
    return this.run(`matmul:${a.shape}:${b.shape}:${transA}:${transB}`, () => src.matmul(a.shape, b.shape, transA, transB, outShape), outShape, [a, b]);
  }

  /** webasm's matmul: the 4×4 register-tile kernel, then its packed output unpacked to row-major. */
  private matmulTiled(a: KernelInput, b: KernelInput, transA: boolean, transB: boolean, outShape: Shape): DataHandle {
    const m = outShape[outShape.length - 2]!, n = outShape[outShape.length - 1]!;
    const batch = sizeOf(outShape.slice(0, -2));
    const groups = Math.ceil(m / src.TILE_ROWS);
    const tiled = this.cache.get(`matmulTiled:${a.shape}:${b.shape}:${transA}:${transB}`,
      () => src.matmulTiled(a.shape, b.shape, transA, transB, outShape), [n, groups, batch]);
    const out = this.call(tiled, [this.own(a.handle).device!, this.own(b.handle).device!]);
    // The packed array is a plain host array on webasm, not a tracked device array.
    const packed = mapDevice(out, (d) => packedOf(d, n * groups * batch * src.TILE_ROWS));
    const unpack = this.cache.get(`unpackRows:${batch}:${m}:${n}`, () => src.unpackRows(batch, m, n), batch * m * n);
    return this.wrap(a.dtype, batch * m * n, this.call(unpack, [packed]));
  }

  reduce(op: ReduceOp, x: KernelInput, axis: number): DataHandle {
    const outShape = x.shape.filter((_, d) => d !== axis);
    if (!this.runsOnDevice([x], x.dtype, outShape)) return this.onCpu(x.dtype, [x], ([a]) => this.cpu.reduce(op, a!, axis));
    return this.run(`reduce:${op}:${x.shape}:${axis}`, () => src.reduce(op, x.shape, axis), outShape, [x]);
  }

  argReduce(op: 'argmax' | 'argmin', x: KernelInput, axis: number): DataHandle {
    return this.onCpu('int32', [x], ([a]) => this.cpu.argReduce(op, a!, axis));
  }

  softmax(x: KernelInput, axis: number): DataHandle {
    if (!this.runsOnDevice([x], x.dtype)) return this.onCpu(x.dtype, [x], ([a]) => this.cpu.softmax(a!, axis));
    return this.withLineStats(x, axis, (max, sum) =>
      this.run(`softmax:${x.shape}:${axis}`, () => src.softmax(x.shape, axis), x.shape, [x, max, sum]));
  }

  logsumexp(x: KernelInput, axis: number): DataHandle {
    const outShape = x.shape.filter((_, d) => d !== axis);
    if (!this.runsOnDevice([x], x.dtype, outShape)) return this.onCpu(x.dtype, [x], ([a]) => this.cpu.logsumexp(a!, axis));
    return this.withLineStats(x, axis, (max, sum) => this.run('logsumexp', src.logsumexp, outShape, [max, sum]));
  }

  topk(x: KernelInput, k: number, axis: number): DataHandle {
    return this.onCpu('int32', [x], ([a]) => this.cpu.topk(a!, k, axis));
  }

  transpose(x: KernelInput, perm: readonly number[]): DataHandle {
    if (!this.runsOnDevice([x], x.dtype)) return this.onCpu(x.dtype, [x], ([a]) => this.cpu.transpose(a!, perm));
    return this.run(`transpose:${x.shape}:${perm}`, () => src.transpose(x.shape, perm), perm.map((p) => x.shape[p]!), [x]);
  }

  slice(x: KernelInput, begin: readonly number[], size: readonly number[]): DataHandle {
    if (!this.runsOnDevice([x], x.dtype, size)) return this.onCpu(x.dtype, [x], ([a]) => this.cpu.slice(a!, begin, size));
    return this.run(`slice:${x.shape}:${begin}:${size}`, () => src.slice(x.shape, begin, size), size, [x]);
  }

  pad(x: KernelInput, begin: readonly number[], outShape: Shape): DataHandle {
    if (!this.runsOnDevice([x], x.dtype, outShape)) return this.onCpu(x.dtype, [x], ([a]) => this.cpu.pad(a!, begin, outShape));
    return this.run(`pad:${x.shape}:${begin}:${outShape}`, () => src.pad(x.shape, begin, outShape), outShape, [x]);
  }

  concat(xs: readonly KernelInput[], axis: number): DataHandle {
    const outShape = xs[0]!.shape.slice();
    outShape[axis] = xs.reduce((s, x) => s + x.shape[axis]!, 0);
    const dtype = xs[0]!.dtype;
    const parts = xs.filter((x) => sizeOf(x.shape) > 0);
    if (!this.runsOnDevice(parts, dtype, outShape)) return this.onCpu(dtype, xs, (hs) => this.cpu.concat(hs, axis));
    const shapes = parts.map((x) => x.shape);
    return this.run(`concat:${shapes.join(';')}:${axis}`, () => src.concat(shapes, axis), outShape, parts);
  }

  gather(x: KernelInput, indices: KernelInput, axis: number): DataHandle {
    const count = sizeOf(indices.shape);
    const outShape = x.shape.map((d, i) => (i === axis ? count : d));
    if (!this.runsOnDevice([x, indices], x.dtype, outShape)) {
      return this.onCpu(x.dtype, [x, indices], ([a, i]) => this.cpu.gather(a!, i!, axis));
    }
    return this.run(`gather:${x.shape}:${count}:${axis}`, () => src.gather(x.shape, count, axis), outShape, [x, indices]);
  }

  indexAdd(x: KernelInput, indices: KernelInput, source: KernelInput, axis: number): DataHandle {
    const count = sizeOf(indices.shape);
    if (!this.runsOnDevice([x, indices, source], x.dtype)) {
      return this.onCpu(x.dtype, [x, indices, source], ([a, i, s]) => this.cpu.indexAdd(a!, i!, s!, axis));
    }
    return this.run(`indexAdd:${x.shape}:${count}:${axis}`, () => src.indexAdd(x.shape, count, axis), x.shape, [x, indices, source]);
  }

  takeAlongAxis(x: KernelInput, indices: KernelInput, axis: number): DataHandle {
    if (!this.runsOnDevice([x, indices], x.dtype, indices.shape)) {
      return this.onCpu(x.dtype, [x, indices], ([a, i]) => this.cpu.takeAlongAxis(a!, i!, axis));
    }
    return this.run(`takeAlongAxis:${x.shape}:${indices.shape}:${axis}`, () => src.takeAlongAxis(x.shape, indices.shape, axis), indices.shape, [x, indices]);
  }

  scatterAdd(x: KernelInput, indices: KernelInput, source: KernelInput, axis: number): DataHandle {
    if (!this.runsOnDevice([x, indices, source], x.dtype)) {
      return this.onCpu(x.dtype, [x, indices, source], ([a, i, s]) => this.cpu.scatterAdd(a!, i!, s!, axis));
    }
    return this.run(`scatterAdd:${x.shape}:${indices.shape}:${axis}`, () => src.scatterAdd(x.shape, indices.shape, axis), x.shape, [x, indices, source]);
  }

  oneHot(indices: KernelInput, depth: number, dtype: DType): DataHandle {
    const outShape = [...indices.shape, depth];
    if (!this.runsOnDevice([indices], dtype, outShape)) return this.onCpu(dtype, [indices], ([i]) => this.cpu.oneHot(i!, depth, dtype));
    return this.run(`oneHot:${depth}`, () => src.oneHot(depth), outShape, [indices], [], dtype);
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

  /** Whether a kernel can run on the device: every operand and the output are device dtypes, non-empty and indexable. */
  private runsOnDevice(inputs: readonly KernelInput[], outDtype: DType, outShape?: Shape): boolean {
    const outSize = outShape ? sizeOf(outShape) : sizeOf(inputs[0]!.shape);
    return onDevice(outDtype, outSize) && inputs.every((x) => onDevice(x.dtype, sizeOf(x.shape)));
  }

  /** Runs a CPU kernel on read-back inputs and takes its output onto this backend. */
  private onCpu(outDtype: DType, inputs: readonly KernelInput[], kernel: (hostInputs: KernelInput[]) => DataHandle): DataHandle {
    const host = inputs.map((x) => ({ handle: this.read(x.handle, x.dtype), shape: x.shape, dtype: x.dtype }));
    return this.upload(kernel(host) as TypedArray, outDtype);
  }

  /** Runs the kernel cached under `key` (compiling `source` on a miss) over device operands. */
  private run(
    key: string, source: () => string, outShape: Shape, inputs: readonly KernelInput[],
    extra: KernelArg[] = [], dtype: DType = inputs[0]!.dtype,
  ): GpuHandle {
    const n = sizeOf(outShape);
    const kernel = this.cache.get(key, source, n);
    return this.wrap(dtype, n, this.call(kernel, inputs.map((x) => this.own(x.handle).device!), extra));
  }

  /** Calls `kernel` on `args`, at once, or once the pending ones have settled. */
  private call(kernel: IKernelRunShortcut, args: readonly Device[], extra: readonly KernelArg[] = []): Device {
    const out = args.some(isPending)
      ? Promise.all(args).then((ready) => kernel(...ready, ...extra) as Device)
      : kernel(...args, ...extra) as Device;
    if (isPending(out)) this.queued = Promise.all([this.queued, out.catch(() => {})]);
    return out;
  }

  /** softmax and logsumexp share their first two kernels: the line maxima and Σ exp(x - max). */
  private withLineStats<T>(x: KernelInput, axis: number, finish: (max: KernelInput, sum: KernelInput) => T): T {
    const lineShape = x.shape.filter((_, d) => d !== axis);
    const max = this.run(`reduce:max:${x.shape}:${axis}`, () => src.reduce('max', x.shape, axis), lineShape, [x]);
    const maxIn = { handle: max, shape: lineShape, dtype: x.dtype };
    const sum = this.run(`sumExp:${x.shape}:${axis}`, () => src.sumExp(x.shape, axis), lineShape, [x, maxIn]);
    try {
      return finish(maxIn, { handle: sum, shape: lineShape, dtype: x.dtype });
    } finally {
      this.free(max);
      this.free(sum);
    }
  }

  private toDevice(values: Float32Array): Device {
    const k = this.cache.get('upload', src.copy, values.length);
    return this.track(this.call(k, [values]));
  }

  private wrap(dtype: DType, n: number, out: unknown): GpuHandle {
    return new GpuHandle(dtype, n, this.track(out as Device), null);
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
