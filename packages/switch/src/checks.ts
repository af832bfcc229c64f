import { Tensor } from '@switch-ts/tensor';

/** Argument checks shared by the layer's steps; every message names the op and the offending value. */

export type FloatDType = 'float32' | 'float64';

export function fmt(shape: readonly number[]): string {
  return `[${shape.join(',')}]`;
}

export function requireTensor(op: string, what: string, x: unknown): asserts x is Tensor {
  if (!(x instanceof Tensor)) throw new Error(`${op}: ${what} must be a Tensor, got ${x === null ? 'null' : typeof x}`);
}

export function requireInteger(op: string, name: string, value: number, min: number, max = Infinity): void {
  if (!Number.isInteger(value) || value < min || value > max) {
    const range = max === Infinity ? `≥ ${min}` : `in [${min}, ${max}]`;
    throw new Error(`${op}: ${name} must be an integer ${range}, got ${value}`);
  }
}

export function requireFloatDType(op: string, name: string, value: unknown): asserts value is FloatDType {
  if (value !== 'float32' && value !== 'float64') throw new Error(`${op}: ${name} must be 'float32' or 'float64', got ${String(value)}`);
}

/** A mask must have the token dims [...groups, S] of a [...groups, S, E] tensor. */
export function requireMask(op: string, mask: unknown, tokenShape: readonly number[]): asserts mask is Tensor {
  requireTensor(op, 'mask', mask);
  const fits = mask.rank === tokenShape.length && mask.shape.every((d, i) => d === tokenShape[i]);
  if (!fits) throw new Error(`${op}: mask ${fmt(mask.shape)} must have the token shape ${fmt(tokenShape)}`);
}
