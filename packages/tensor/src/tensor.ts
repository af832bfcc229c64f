import type { Backend, DataHandle } from './backend/backend.js';
import { describeValue } from './describe.js';
import { arrayFrom, checkDType, dtypeOfArray, type DType, type TypedArray } from './dtype.js';
import {
  assertFiniteInput, backend, checkAllocation, countAlloc, countFree, countTensor, noGrad, recordOp, storageBytes, trackTensor,
} from './engine.js';
import { checkShape, fmt, sameShape, sizeOf, stridesOf, type Shape } from './shape.js';
import { backward as runBackward, type GradNode } from './autograd.js';
import * as ops from './ops/index.js';
import type { Rng } from './random.js';

export type NestedArray = number | NestedArray[];
export type TensorLike = Tensor | number;

/** Device memory shared by a tensor and its reshaped views; freed when the last one is disposed. */
class Storage {
  refs = 1;
  /** In-place writes so far (torch's `_version`): autograd refuses a gradient that read older values. */
  version = 0;
  constructor(public backend: Backend, public handle: DataHandle, readonly bytes: number) {
    countAlloc(bytes);
  }
  release(): void {
    if (--this.refs === 0) {
      this.backend.free(this.handle);
      countFree(this.bytes);
    }
  }
}

export class Tensor {
  readonly shape: readonly number[];
  readonly dtype: DType;
  requiresGrad = false;
  grad: Tensor | null = null;
  /** @internal The op that produced this tensor, for backward; null for leaves. */
  gradNode: GradNode | null = null;
  private storage: Storage;
  private disposed = false;

  /** @internal Use `tensor()` or an op. Wraps a backend handle that this tensor now owns. */
  constructor(handle: DataHandle, shape: Shape, dtype: DType, shareWith?: Tensor) {
    this.shape = Object.freeze(shape.slice());
    this.dtype = dtype;
    if (shareWith) {
      this.storage = shareWith.storage;
      this.storage.refs++;
    } else {
      this.storage = new Storage(backend(), handle, storageBytes(shape, dtype));
    }
    countTensor(1);
    trackTensor(this);
  }

  get size(): number {
    return sizeOf(this.shape);
  }
  get rank(): number {
    return this.shape.length;
  }
  get isDisposed(): boolean {
    return this.disposed;
  }
  /** @internal How many in-place writes (`assign`) this tensor's storage, shared with its views, has had. */
  get version(): number {
    return this.storage.version;
  }

  /** @internal Throws, naming `op`, if this tensor was disposed. */
  assertLive(op: string): void {
    if (this.disposed) throw new Error(`${op}: tensor of shape ${fmt(this.shape)} was disposed`);
  }

  /**
   * @internal The data handle on `target`, moving the data there first if it lives on another
   * backend. Only ops move data (to the active backend, where they run); reads never do.
   */
  handleOn(target: Backend, op: string): DataHandle {
    this.assertLive(op);
    const s = this.storage;
    // Same name and mode means the same kind of handle (every CpuBackend reads every typed array).
    if (s.backend !== target && (s.backend.name !== target.name || s.backend.mode !== target.mode)) {
      const from = s.backend, old = s.handle;
      s.handle = target.upload(from.read(old, this.dtype).slice(), this.dtype);
      s.backend = target;
      from.free(old);
    }
    return s.handle;
  }

  /** The flat values (row-major), read from wherever they live. Read-only: copy before modifying. */
  dataSync(): TypedArray {
    this.assertLive('dataSync');
    return this.storage.backend.read(this.storage.handle, this.dtype);
  }

  /** The flat values, awaited: the readback that does not block where the device can answer later. */
  async data(): Promise<TypedArray> {
    this.assertLive('data');
    const { backend: b, handle } = this.storage;
    return b.readAsync ? b.readAsync(handle, this.dtype) : b.read(handle, this.dtype);
  }

  /** Nested arrays shaped like the tensor, like torch's tolist(); a number for a 0-d tensor. */
  toArray(): NestedArray {
    return nest(this.dataSync(), this.shape);
  }

  /** `toArray()`, awaited. */
  async array(): Promise<NestedArray> {
    return nest(await this.data(), this.shape);
  }

  item(): number {
    if (this.size !== 1) throw new Error(`item: tensor of shape ${fmt(this.shape)} has ${this.size} elements, expected 1`);
    return this.dataSync()[0]!;
  }

  /**
   * In-place copy of same-shaped values into this tensor's storage, wherever it lives; not
   * recorded by autodiff (like torch's `with no_grad: x.copy_(v)`).
   */
  assign(values: Tensor | NestedArray | ArrayLike<number>): this {
    const src = values instanceof Tensor ? values : null;
    const given = src ? { flat: null, shape: src.shape } : parseValues('assign', values);
    // Flat values (a typed array, say) may fill a tensor of any shape with as many elements.
    const flatFill = !src && given.shape.length === 1 && given.shape[0] === this.size;
    if (!sameShape(given.shape, this.shape) && !flatFill) {
      throw new Error(`assign: shape ${fmt(given.shape)} does not match tensor of shape ${fmt(this.shape)}`);
    }
    this.assertLive('assign');
    src?.assertLive('assign');
    // A source tensor is read back only when its values must pass through the host.
    const read = (): ArrayLike<number> => given.flat ?? src!.dataSync();
    assertFiniteInput('assign', read, this.shape);
    const { backend: b, handle } = this.storage;
    if (b.assign && src && src.dtype === this.dtype && src.storage.backend === b) {
      b.assign(handle, { handle: src.storage.handle, shape: src.shape, dtype: src.dtype });
    } else {
      b.write(handle, arrayFrom('assign', this.dtype, read(), this.shape));
    }
    this.storage.version++;
    return this;
  }

  /** @internal The float values of `tensors` as the host holds them (not copies), or null if any lives on a device or is not float. */
  static hostValues(op: string, tensors: readonly Tensor[]): (Float32Array | Float64Array)[] | null {
    for (const t of tensors) t.assertLive(op);
    if (!tensors.every((t) => t.storage.backend.name === 'cpu' && (t.dtype === 'float32' || t.dtype === 'float64'))) return null;
    return tensors.map((t) => t.storage.handle as Float32Array | Float64Array);
  }

  /**
   * @internal Runs `update` on the flat float values of `tensors` in place, where they all live
   * in host memory (the CPU backend keeps the typed array itself as the handle), and moves each
   * one's version on as `assign` does: the optimizers' fused one-pass steps. Returns false without
   * calling `update` where any lives on a device or is not float, so that the caller takes the
   * op-by-op path, which runs anywhere.
   */
  static updateOnHost(op: string, tensors: readonly Tensor[], update: (values: (Float32Array | Float64Array)[]) => void): boolean {
    const values = Tensor.hostValues(op, tensors);
    if (!values) return false;
    update(values);
    for (const [i, t] of tensors.entries()) {
      t.storage.version++;
      assertFiniteInput(op, () => values[i]!, t.shape);
    }
    return true;
  }

  /**
   * @internal A copy with storage of its own, not recorded: the backend's copy where it has one
   * (the CPU's: a memcpy into an array from its pool), elsewhere an op.
   */
  copy(): Tensor {
    this.assertLive('copy');
    const b = backend();
    if (this.storage.backend === b && b.copy) return new Tensor(b.copy(this.storage.handle, this.dtype), this.shape, this.dtype);
    return noGrad(() => this.add(0));
  }

  /** A tensor sharing this one's data but cut from the graph. */
  detach(): Tensor {
    this.assertLive('detach');
    return new Tensor(null, this.shape, this.dtype, this);
  }

  /** Frees this tensor's storage (once no reshaped view shares it). Further use throws. */
  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    this.storage.release();
    countTensor(-1);
  }

  /**
   * Reverse-mode autodiff from this tensor. `seed` is dL/d(this); it may be omitted only for a
   * one-element tensor (the seed is then 1). Gradients accumulate into `.grad` of leaf tensors.
   */
  backward(seed?: Tensor): void {
    runBackward(this, seed);
  }

  zeroGrad(): void {
    this.grad?.dispose();
    this.grad = null;
  }

  toString(): string {
    return `Tensor(${JSON.stringify(this.toArray())}, shape=${fmt(this.shape)}, dtype=${this.dtype})`;
  }

  // ---------- method forms of the ops ----------
  add(other: TensorLike): Tensor { return ops.add(this, other); }
  sub(other: TensorLike): Tensor { return ops.sub(this, other); }
  mul(other: TensorLike): Tensor { return ops.mul(this, other); }
  div(other: TensorLike): Tensor { return ops.div(this, other); }
  pow(exponent: TensorLike): Tensor { return ops.pow(this, exponent); }
  maximum(other: TensorLike): Tensor { return ops.maximum(this, other); }
  minimum(other: TensorLike): Tensor { return ops.minimum(this, other); }
  eq(other: TensorLike): Tensor { return ops.eq(this, other); }
  ne(other: TensorLike): Tensor { return ops.ne(this, other); }
  lt(other: TensorLike): Tensor { return ops.lt(this, other); }
  le(other: TensorLike): Tensor { return ops.le(this, other); }
  gt(other: TensorLike): Tensor { return ops.gt(this, other); }
  ge(other: TensorLike): Tensor { return ops.ge(this, other); }
  neg(): Tensor { return ops.neg(this); }
  exp(): Tensor { return ops.exp(this); }
  log(): Tensor { return ops.log(this); }
  sqrt(): Tensor { return ops.sqrt(this); }
  abs(): Tensor { return ops.abs(this); }
  tanh(): Tensor { return ops.tanh(this); }
  sigmoid(): Tensor { return ops.sigmoid(this); }
  relu(): Tensor { return ops.relu(this); }
  gelu(): Tensor { return ops.gelu(this); }
  square(): Tensor { return ops.square(this); }
  cast(dtype: DType): Tensor { return ops.cast(this, dtype); }
  matmul(other: Tensor): Tensor { return ops.matmul(this, other); }
  sum(axis?: number | number[], keepDims?: boolean): Tensor { return ops.sum(this, axis, keepDims); }
  mean(axis?: number | number[], keepDims?: boolean): Tensor { return ops.mean(this, axis, keepDims); }
  max(axis?: number | number[], keepDims?: boolean): Tensor { return ops.max(this, axis, keepDims); }
  min(axis?: number | number[], keepDims?: boolean): Tensor { return ops.min(this, axis, keepDims); }
  argmax(axis: number): Tensor { return ops.argmax(this, axis); }
  argmin(axis: number): Tensor { return ops.argmin(this, axis); }
  topk(k: number, axis?: number): { values: Tensor; indices: Tensor } { return ops.topk(this, k, axis); }
  softmax(axis?: number): Tensor { return ops.softmax(this, axis); }
  logSoftmax(axis?: number): Tensor { return ops.logSoftmax(this, axis); }
  logsumexp(axis?: number, keepDims?: boolean): Tensor { return ops.logsumexp(this, axis, keepDims); }
  reshape(shape: readonly number[]): Tensor { return ops.reshape(this, shape); }
  transpose(perm?: readonly number[]): Tensor { return ops.transpose(this, perm); }
  squeeze(axis?: number | number[]): Tensor { return ops.squeeze(this, axis); }
  unsqueeze(axis: number): Tensor { return ops.unsqueeze(this, axis); }
  broadcastTo(shape: readonly number[]): Tensor { return ops.broadcastTo(this, shape); }
  slice(begin: number | readonly number[], size?: number | readonly number[]): Tensor { return ops.slice(this, begin, size); }
  gather(indices: Tensor, axis?: number): Tensor { return ops.gather(this, indices, axis); }
  indexAdd(indices: Tensor, src: Tensor, axis?: number): Tensor { return ops.indexAdd(this, indices, src, axis); }
  takeAlongAxis(indices: Tensor, axis: number): Tensor { return ops.takeAlongAxis(this, indices, axis); }
  scatterAdd(indices: Tensor, src: Tensor, axis: number): Tensor { return ops.scatterAdd(this, indices, src, axis); }
  dropout(p: number, rng: Rng): Tensor { return ops.dropout(this, p, rng); }
}

/**
 * Makes a tensor from a number (0-d), nested arrays (shape inferred; ragged input throws) or a flat
 * array-like (shape [n] unless `shape` is given). The default dtype is float32, or the typed
 * array's own type.
 */
export function tensor(
  values: number | NestedArray | ArrayLike<number>,
  opts: { shape?: readonly number[]; dtype?: DType; requiresGrad?: boolean } = {},
): Tensor {
  return tensorFrom('tensor', values, opts);
}

/** @internal `tensor()` for a function that builds its result from values (rand, arange): errors name `op`. */
export function tensorFrom(
  op: string, values: number | NestedArray | ArrayLike<number>, opts: { shape?: readonly number[]; dtype?: DType; requiresGrad?: boolean } = {},
): Tensor {
  if (opts.dtype !== undefined) checkDType(op, opts.dtype);
  const { flat, shape: given } = parseValues(op, values);
  let shape = given;
  if (opts.shape) {
    checkShape(op, opts.shape);
    if (sizeOf(opts.shape) !== flat.length) {
      throw new Error(`${op}: ${flat.length} values cannot have shape ${fmt(opts.shape)} (${sizeOf(opts.shape)} elements)`);
    }
    shape = opts.shape.slice();
  }
  const dtype = opts.dtype ?? (typeof values === 'object' && !Array.isArray(values) ? dtypeOfArray(values as ArrayLike<number>) : undefined) ?? 'float32';
  checkAllocation(op, shape, dtype);
  assertFiniteInput(op, () => flat, shape);
  const out = new Tensor(backend().upload(arrayFrom(op, dtype, flat, shape), dtype), shape, dtype);
  recordOp('tensor', 0, storageBytes(shape, dtype));
  if (opts.requiresGrad) {
    ops.requireFloat(`${op}(requiresGrad)`, out);
    out.requiresGrad = true;
  }
  return out;
}

/**
 * A tensor over `values` without a copy, like torch.from_numpy: the backend takes the array as
 * the tensor's storage. On the CPU backend the two share memory, so a write to either shows in
 * the other (how ExpertParallelLayer keeps its weights in shared memory); the gpu backend uploads
 * the array to the device, after which they no longer share. Unlike `tensor()`, nothing is copied
 * or checked element by element (but for NaN under checkFinite), so the profiler counts no bytes for it.
 */
export function fromArray(values: TypedArray, shape: readonly number[] = [values.length]): Tensor {
  const dtype = dtypeOfArray(values);
  if (dtype === undefined) throw new Error(`fromArray: values must be a Float32Array, Float64Array or Int32Array, got ${describeValue(values)}`);
  checkAllocation('fromArray', shape, dtype);
  if (sizeOf(shape) !== values.length) {
    throw new Error(`fromArray: ${values.length} values cannot have shape ${fmt(shape)} (${sizeOf(shape)} elements)`);
  }
  assertFiniteInput('fromArray', () => values, shape);
  return new Tensor(backend().upload(values, dtype, true), shape.slice(), dtype);
}

function nest(values: TypedArray, shape: Shape): NestedArray {
  const strides = stridesOf(shape);
  const build = (dim: number, offset: number): NestedArray =>
    dim === shape.length
      ? values[offset]!
      : Array.from({ length: shape[dim]! }, (_, i) => build(dim + 1, offset + i * strides[dim]!));
  return build(0, 0);
}

/** The flat values and shape that `tensor()` and `assign()` read: numbers only, no holes, nothing ragged. */
function parseValues(op: string, values: unknown): { flat: ArrayLike<number>; shape: number[] } {
  if (typeof values === 'number') return { flat: [values], shape: [] };
  if (Array.isArray(values)) return flattenNested(op, values);
  if (typeof values !== 'object' || values === null || typeof (values as ArrayLike<number>).length !== 'number') {
    throw new Error(`${op}: values must be a number, nested arrays of numbers or an array-like of numbers, got ${describeValue(values)}`);
  }
  const flat = values as ArrayLike<number>;
  if (dtypeOfArray(flat) === undefined) {
    for (let i = 0; i < flat.length; i++) {
      if (typeof flat[i] !== 'number') throw new Error(`${op}: element ${i} is ${describeValue(flat[i])}, expected a number`);
    }
  }
  return { flat, shape: [flat.length] };
}

/** Nested arrays in row-major order; the shape comes from the first element at each level, and every element must fit it. */
function flattenNested(op: string, values: unknown[]): { flat: number[]; shape: number[] } {
  const shape: number[] = [];
  for (let level: unknown = values; Array.isArray(level); level = level[0]) shape.push(level.length);
  const flat: number[] = [];
  const visit = (v: unknown, dim: number, path: string): void => {
    if (dim === shape.length) {
      if (Array.isArray(v)) throw new Error(`${op}: ragged nested array at ${path}: expected a number, got an array`);
      if (typeof v !== 'number') throw new Error(`${op}: ${path} is ${describeValue(v)}, expected a number`);
      flat.push(v);
      return;
    }
    if (!Array.isArray(v) || v.length !== shape[dim]) {
      throw new Error(`${op}: ragged nested array at ${path}: expected length ${shape[dim]}, got ${Array.isArray(v) ? v.length : describeValue(v)}`);
    }
    for (let i = 0; i < v.length; i++) {
      // forEach and flat() skip holes, which would leave fewer values than the shape has elements.
      if (!(i in v)) throw new Error(`${op}: ${path}[${i}] is a hole (a sparse array); every element must be given`);
      visit(v[i], dim + 1, `${path}[${i}]`);
    }
  };
  visit(values, 0, 'values');
  return { flat, shape };
}
