import { CpuBackend } from './backend/cpu/index.js';
import type { Backend } from './backend/backend.js';
import { describeValue } from './describe.js';
import { bytesPerElement, checkDType, isFloat, type DType } from './dtype.js';
import { checkShape, fmt, sizeOf, type Shape } from './shape.js';
import type { Tensor } from './tensor.js';

/**
 * Global state every op consults: the active backend, whether autodiff records, the profiler, the
 * checkFinite switch and the memory counters. Kept in one small module so that each is easy to find.
 */

// ---------- backends ----------
const backendFactories = new Map<string, (opts?: Record<string, unknown>) => Backend>([['cpu', () => new CpuBackend()]]);
let active: Backend = new CpuBackend();

/** Lets another package (the gpu.js backend) plug in a backend under a name. */
export function registerBackend(name: string, factory: (opts?: Record<string, unknown>) => Backend): void {
  backendFactories.set(name, factory);
}

/**
 * Makes `name` the active backend. For 'gpu': `{ mode?: 'headlessgl' | 'webgl2' | 'webgl' | 'webasm' | 'cpu',
 * strict?: boolean }`; a mode that cannot run here falls back to the best one that can, with one
 * warning naming the reason, or throws under `strict`. `getBackend().mode` says what runs.
 */
export function setBackend(name: string, opts?: { mode?: string; strict?: boolean } & Record<string, unknown>): void {
  const factory = backendFactories.get(name);
  if (!factory) throw new Error(`setBackend: unknown backend '${name}'; registered: ${[...backendFactories.keys()].join(', ')}`);
  active = factory(opts);
}

export function getBackend(): { name: string; mode?: string } {
  return active.mode === undefined ? { name: active.name } : { name: active.name, mode: active.mode };
}

export function backend(): Backend {
  return active;
}

// ---------- autodiff recording ----------
let gradEnabled = true;

export function isGradEnabled(): boolean {
  return gradEnabled;
}

/** Runs `fn` with recording off (like torch.no_grad) and returns its value. */
export function noGrad<T>(fn: () => T): T {
  const prev = gradEnabled;
  gradEnabled = false;
  try {
    return fn();
  } finally {
    gradEnabled = prev;
  }
}

// ---------- debug ----------
let checkFinite = false;

/**
 * With checkFinite on, every op verifies its float output and throws at the first NaN or ±Infinity;
 * so do the entry points of values from outside, tensor(), fromArray() and assign(), for what enters.
 */
export function setDebug(opts: { checkFinite?: boolean }): void {
  if (opts.checkFinite !== undefined) checkFinite = opts.checkFinite;
}

export function assertFinite(op: string, inputs: readonly { shape: Shape }[], out: Tensor): void {
  if (!checkFinite || !isFloat(out.dtype)) return;
  const values = out.dataSync();
  const i = firstNonFinite(values);
  if (i >= 0) {
    const shapes = inputs.map((t) => fmt(t.shape)).join(', ');
    throw new Error(`${op}: produced ${values[i]} at flat index ${i} of output ${fmt(out.shape)} (inputs ${shapes}; checkFinite is on)`);
  }
}

/**
 * With checkFinite on, throws at the first NaN or ±Infinity among the values entering a tensor of
 * `shape` through `op`; `read` is called only then (it may be a readback).
 */
export function assertFiniteInput(op: string, read: () => ArrayLike<number>, shape: Shape): void {
  if (!checkFinite) return;
  const values = read();
  const i = firstNonFinite(values);
  if (i >= 0) throw new Error(`${op}: ${values[i]} at flat index ${i} of ${fmt(shape)} (checkFinite is on)`);
}

function firstNonFinite(values: ArrayLike<number>): number {
  for (let i = 0; i < values.length; i++) if (!Number.isFinite(values[i])) return i;
  return -1;
}

// ---------- memory ----------
const live = { tensors: 0, bytes: 0 };

export function storageBytes(shape: Shape, dtype: DType): number {
  return sizeOf(shape) * bytesPerElement(dtype);
}

/**
 * The most elements one tensor may hold. The CPU kernels address elements with int32 offsets, so
 * 2^31 − 1 is as far as they read correctly; V8 (Node 20) allows typed arrays of up to 2^32
 * elements, so below this limit nothing V8 could allocate is refused.
 */
export const MAX_ELEMENTS = 2 ** 31 - 1;

/** Throws, naming the op, for a dtype or shape that no tensor can have, before anything is allocated. */
export function checkAllocation(op: string, shape: Shape, dtype: DType): void {
  checkDType(op, dtype);
  checkShape(op, shape);
  const n = sizeOf(shape);
  if (n > MAX_ELEMENTS) {
    throw new Error(`${op}: shape ${fmt(shape)} has ${n} elements (${storageBytes(shape, dtype)} bytes as ${dtype}), more than the ${MAX_ELEMENTS} one tensor can hold`);
  }
}

export function countAlloc(bytes: number): void {
  live.bytes += bytes;
}

export function countFree(bytes: number): void {
  live.bytes -= bytes;
}

export function countTensor(delta: 1 | -1): void {
  live.tensors += delta;
}

/** Live (not disposed) tensors and the bytes of storage they hold, like tf.memory(). */
export function memory(): { tensors: number; bytes: number } {
  return { ...live };
}

// ---------- scopes ----------
interface Scoped {
  readonly shape: readonly number[];
  readonly requiresGrad: boolean;
  readonly gradNode: unknown;
  dispose(): void;
}
const scopes: Set<Scoped>[] = [];

/** @internal Every new tensor joins the innermost `tidy` scope, if any. */
export function trackTensor(t: Scoped): void {
  scopes[scopes.length - 1]?.add(t);
}

/** Exempts a tensor created inside `tidy` from being disposed by it (and by every enclosing one). */
export function keep<T extends Scoped>(t: T): T {
  for (const scope of scopes) scope.delete(t);
  return t;
}

function isScoped(x: unknown): x is Scoped {
  return typeof x === 'object' && x !== null && 'shape' in x && typeof (x as Scoped).dispose === 'function';
}

/** The tensors in a tidy result: a tensor, or arrays and plain objects holding tensors. */
function tensorsIn(x: unknown, found: Set<Scoped>): Set<Scoped> {
  if (isScoped(x)) found.add(x);
  else if (Array.isArray(x)) x.forEach((v) => tensorsIn(v, found));
  else if (typeof x === 'object' && x !== null && Object.getPrototypeOf(x) === Object.prototype) {
    Object.values(x).forEach((v) => tensorsIn(v, found));
  }
  return found;
}

/**
 * Runs `fn` and disposes every tensor it created except those it returns, those passed to `keep`,
 * and parameters (leaf tensors that require grad) — like tf.tidy, where variables survive.
 * Returned tensors move to the enclosing scope. A training step inside `tidy` leaves
 * `memory()` flat.
 */
export function tidy<T>(fn: () => T): T {
  if (typeof fn !== 'function') throw new Error(`tidy: expected a function, got ${describeValue(fn)}`);
  if (Object.prototype.toString.call(fn) === '[object AsyncFunction]') throw new Error(`${asyncTidy}: fn is async`);
  const scope = new Set<Scoped>();
  scopes.push(scope);
  let result: T | undefined;
  try {
    result = fn();
  } finally {
    scopes.pop();
    const survivors = tensorsIn(result, new Set());
    for (const t of scope) {
      const isParameter = t.requiresGrad && t.gradNode === null;
      if (survivors.has(t) || isParameter) trackTensor(t);
      else t.dispose();
    }
  }
  if (isThenable(result)) {
    // The scope is gone and its tensors freed; whatever the promise does next fails with "was
    // disposed", and nobody can await it, so its rejection must not surface as unhandled.
    result.then(undefined, () => {});
    throw new Error(`${asyncTidy}: fn returned a Promise (tensors made after an await would outlive the scope)`);
  }
  return result as T;
}

/** tf.tidy's wording: a scope that ends when `fn` returns cannot hold what `fn` does after an await. */
const asyncTidy = 'tidy: cannot be used with an async function; tidy each synchronous step instead';

function isThenable(x: unknown): x is PromiseLike<unknown> {
  return (typeof x === 'object' || typeof x === 'function') && x !== null && typeof (x as PromiseLike<unknown>).then === 'function';
}

// ---------- profiler ----------
export interface OpProfile {
  calls: number;
  flops: number;
  bytes: number;
  /** Calls the active backend left to the CPU kernel (see the kernel table in the README). */
  fallbacks: number;
  /** Bytes those calls read back and uploaded. */
  fallbackBytes: number;
}
export interface Profile {
  flops: number;
  bytes: number;
  fallbacks: number;
  fallbackBytes: number;
  byOp: Record<string, OpProfile>;
}
let profiling: Profile | null = null;

/**
 * Runs `fn` and reports the floating-point operations and the bytes of tensor storage allocated
 * while it ran, in total and per op, and the kernel calls that fell back to the CPU with the bytes
 * they moved. FLOPs follow the per-op formulas in the package README (each op passes its count
 * to `runKernel`).
 */
export function profile(fn: () => void): Profile {
  const outer = profiling;
  const current: Profile = { flops: 0, bytes: 0, fallbacks: 0, fallbackBytes: 0, byOp: {} };
  profiling = current;
  try {
    fn();
  } finally {
    profiling = outer;
  }
  if (outer) {
    for (const [op, p] of Object.entries(current.byOp)) addOp(outer, op, p);
  }
  return current;
}

const counters = ['calls', 'flops', 'bytes', 'fallbacks', 'fallbackBytes'] as const;

function addOp(p: Profile, op: string, add: OpProfile): void {
  const entry = (p.byOp[op] ??= { calls: 0, flops: 0, bytes: 0, fallbacks: 0, fallbackBytes: 0 });
  for (const c of counters) entry[c] += add[c];
  p.flops += add.flops;
  p.bytes += add.bytes;
  p.fallbacks += add.fallbacks;
  p.fallbackBytes += add.fallbackBytes;
}

/**
 * Called once per kernel run (and per constructor); a no-op unless `profile` is running.
 * `fallbackBytes` is given for a call that the CPU kernel ran for another backend.
 */
export function recordOp(op: string, flops: number, bytes: number, fallbackBytes?: number): void {
  const fellBack = fallbackBytes !== undefined;
  if (profiling) addOp(profiling, op, { calls: 1, flops, bytes, fallbacks: fellBack ? 1 : 0, fallbackBytes: fallbackBytes ?? 0 });
}
