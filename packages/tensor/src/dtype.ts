import { fmt, type Shape } from './shape.js';

/** Element types. Floats are what autodiff works on; int32 holds indices, targets and masks. */
export type DType = 'float32' | 'float64' | 'int32';
export type TypedArray = Float32Array | Float64Array | Int32Array;
export type FloatDType = 'float32' | 'float64';

const arrayTypes = { float32: Float32Array, float64: Float64Array, int32: Int32Array } as const;
const bytesPer: Record<DType, number> = { float32: 4, float64: 8, int32: 4 };

export function isDType(d: unknown): d is DType {
  return d === 'float32' || d === 'float64' || d === 'int32';
}

/** Throws, naming the op (and the shape of the tensor it converts, if any), unless `dtype` is one of the dtypes above. */
export function checkDType(op: string, dtype: unknown, shape?: Shape): asserts dtype is DType {
  if (!isDType(dtype)) {
    throw new Error(`${op}: unknown dtype '${String(dtype)}'${shape ? ` for tensor of shape ${fmt(shape)}` : ''}; expected float32, float64 or int32`);
  }
}

export function allocArray(dtype: DType, length: number): TypedArray {
  return new arrayTypes[dtype](length);
}

/** A typed array of `dtype` over `length` elements of `buffer` from `byteOffset` (no copy). */
export function arrayView(dtype: DType, buffer: ArrayBufferLike, byteOffset: number, length: number): TypedArray {
  // Each constructor takes a SharedArrayBuffer too; the union of their signatures does not say so.
  return new arrayTypes[dtype](buffer as ArrayBuffer, byteOffset, length);
}

/**
 * The values as a typed array of `dtype`, for `op`. Into int32 a value truncates toward zero, as in
 * PyTorch; NaN, ±Infinity and values past int32's range have no int32 value (an Int32Array would
 * store 0 or wrap around), so they throw.
 */
export function arrayFrom(op: string, dtype: DType, values: ArrayLike<number>, shape: Shape): TypedArray {
  if (dtype === 'int32' && !(values instanceof Int32Array)) checkInt32(op, values, shape);
  return arrayTypes[dtype].from(values);
}

/** Throws, naming the op and the first value, unless every value truncates to an int32. `from` names the source dtype. */
export function checkInt32(op: string, values: ArrayLike<number>, shape: Shape, from?: DType): void {
  for (let i = 0; i < values.length; i++) {
    const v = Math.trunc(values[i]!);
    if (!(v >= -(2 ** 31) && v < 2 ** 31)) {
      const at = shape.length > 0 ? ` at flat index ${i} of ${fmt(shape)}` : '';
      throw new Error(`${op}: ${values[i]}${at}${from ? ` ${from}` : ''} cannot be converted to int32`);
    }
  }
}

export function dtypeOfArray(a: ArrayLike<number>): DType | undefined {
  if (a instanceof Float64Array) return 'float64';
  if (a instanceof Int32Array) return 'int32';
  if (a instanceof Float32Array) return 'float32';
  return undefined;
}

export function bytesPerElement(dtype: DType): number {
  return bytesPer[dtype];
}

export function isFloat(dtype: DType): dtype is FloatDType {
  return dtype !== 'int32';
}

/** Type promotion as in PyTorch: int32 < float32 < float64. */
export function promote(a: DType, b: DType): DType {
  if (a === 'float64' || b === 'float64') return 'float64';
  if (a === 'float32' || b === 'float32') return 'float32';
  return 'int32';
}
