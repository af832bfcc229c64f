import { record } from '../autograd.js';
import type { BinaryOp, UnaryOp } from '../backend/backend.js';
import { checkDType, checkInt32, isFloat, promote, type DType } from '../dtype.js';
import { broadcastShapes, checkShape, fmt, sameShape, sizeOf } from '../shape.js';
import type { Tensor, TensorLike } from '../tensor.js';
import { asTensor, requireFloat, requireTensor, runKernel } from './kernel.js';
import { sumTo } from './reduce.js';

/**
 * Elementwise ops. Each forward is one kernel; each backward is written with other ops, right
 * below it. FLOPs: one per output element.
 */

function unaryKernel(op: UnaryOp, x: Tensor, name: string = op): Tensor {
  return runKernel(name, 'unary', { inputs: [x], attrs: { op }, shape: x.shape, dtype: x.dtype, flops: x.size });
}

/** Defines a unary op from its kernel and its derivative rule dL/dx = g · f'(x, y). */
function unary(op: UnaryOp, needsFloat: boolean, grad: (g: Tensor, x: Tensor, y: Tensor) => Tensor) {
  return (x: Tensor): Tensor => {
    requireTensor(op, x);
    if (needsFloat) requireFloat(op, x);
    const y = unaryKernel(op, x);
    return record(op, y, [x], (g) => [grad(g, x, y)]);
  };
}

export const neg = unary('neg', false, (g) => neg(g));
export const exp = unary('exp', true, (g, _x, y) => g.mul(y));
export const log = unary('log', true, (g, x) => g.div(x));
export const sqrt = unary('sqrt', true, (g, _x, y) => g.div(y.mul(2)));
export const abs = unary('abs', false, (g, x) => g.mul(unaryKernel('sign', x)));
export const tanh = unary('tanh', true, (g, _x, y) => g.mul(sub(1, y.mul(y))));
export const sigmoid = unary('sigmoid', true, (g, _x, y) => g.mul(y.mul(sub(1, y))));
// The mask is cast to g's dtype so that the product is of one float dtype (the CPU's wasm loops
// take float32 × float32); 0 and 1 are exact in every float, so the gradient is the same.
export const relu = unary('relu', false, (g, x) => g.mul(cast(x.gt(0), g.dtype)));
/** GELU in its tanh form (see backend/formulas.ts for the formula and its derivative). */
export const gelu = unary('gelu', true, (g, x) => g.mul(unaryKernel('geluGrad', x)));

export function square(x: Tensor): Tensor {
  return mul(x, x);
}

/** Broadcasts both operands and runs one binary kernel; `outDtype` defaults to the promoted type. */
function binaryKernel(op: BinaryOp, a: Tensor, b: Tensor, outDtype?: DType): Tensor {
  const shape = broadcastShapes(op, a.shape, b.shape);
  const dtype = outDtype ?? promote(a.dtype, b.dtype);
  if (dtype === 'int32' && sizeOf(shape) > 0) checkIntOperand(op, b);
  return runKernel(op, 'binary', { inputs: [a, b], attrs: { op }, shape, dtype, flops: sizeOf(shape) });
}

/**
 * PyTorch's two integer errors, where an Int32Array would silently store 0: the second operand's
 * values that int32 `div` and `pow` refuse, what is wrong with them, and what the operand is.
 */
const intRules: Partial<Record<BinaryOp, [refused: (v: number) => boolean, problem: string, operand: string]>> = {
  div: [(v) => v === 0, 'integer division by zero', 'divisor'],
  pow: [(v) => v < 0, 'integers to negative integer powers are not allowed', 'exponent'],
};

/** Checked on the values read back, before the kernel runs, so that every backend throws alike. */
function checkIntOperand(op: BinaryOp, b: Tensor): void {
  const rule = intRules[op];
  if (!rule) return;
  const [refused, problem, operand] = rule;
  const v = b.dataSync();
  for (let i = 0; i < v.length; i++) {
    if (refused(v[i]!)) throw new Error(`${op}: ${problem}: the ${operand} of shape ${fmt(b.shape)} is ${v[i]} at flat index ${i}`);
  }
}

function operands(op: string, a: TensorLike, b: TensorLike): [Tensor, Tensor] {
  if (typeof a === 'number' && typeof b === 'number') throw new Error(`${op}: at least one operand must be a Tensor`);
  const ta = typeof a === 'number' ? asTensor(op, a, b as Tensor) : a;
  const tb = asTensor(op, b, ta);
  requireTensor(op, ta);
  return [ta, tb];
}

/**
 * Defines a broadcasting binary op from its kernel and the two partial derivatives. `sumTo`
 * reduces each gradient back to its operand's shape: the single unbroadcast rule every
 * broadcasting op shares.
 */
function binary(op: BinaryOp, grads: (g: Tensor, a: Tensor, b: Tensor, y: Tensor) => [Tensor | null, Tensor | null]) {
  return (a: TensorLike, b: TensorLike): Tensor => {
    const [ta, tb] = operands(op, a, b);
    const y = binaryKernel(op, ta, tb);
    return record(op, y, [ta, tb], (g) => {
      const [ga, gb] = grads(g, ta, tb, y);
      return [ga && sumTo(ga, ta.shape), gb && sumTo(gb, tb.shape)];
    });
  };
}

export const add = binary('add', (g) => [g, g]);
export const sub = binary('sub', (g) => [g, neg(g)]);
export const mul = binary('mul', (g, a, b) => [g.mul(b), g.mul(a)]);
export const div = binary('div', (g, a, b) => [g.div(b), neg(g).mul(a).div(b.mul(b))]);
/** d(a^b)/da = b·a^(b−1); d(a^b)/db = a^b·ln a (only computed when the exponent needs it). */
export const pow = binary('pow', (g, a, b, y) => [
  a.requiresGrad ? g.mul(b).mul(pow(a, sub(b, 1))) : null,
  b.requiresGrad ? g.mul(y).mul(log(a)) : null,
]);
/** The gradient goes to the larger operand; a tie sends it all to the first (a valid subgradient; PyTorch splits ties evenly). */
export const maximum = binary('maximum', (g, a, b) => {
  const first = a.ge(b);
  return [g.mul(first), g.mul(sub(1, first))];
});
export const minimum = binary('minimum', (g, a, b) => {
  const first = a.le(b);
  return [g.mul(first), g.mul(sub(1, first))];
});

/** Comparisons give int32 0/1 masks (there is no bool dtype) and no gradient. */
function comparison(op: BinaryOp) {
  return (a: TensorLike, b: TensorLike): Tensor => {
    const [ta, tb] = operands(op, a, b);
    return binaryKernel(op, ta, tb, 'int32');
  };
}
export const eq = comparison('eq');
export const ne = comparison('ne');
export const lt = comparison('lt');
export const le = comparison('le');
export const gt = comparison('gt');
export const ge = comparison('ge');

/** Picks `a` where `cond` is non-zero, else `b`, all three broadcast together. */
export function where(cond: Tensor, a: TensorLike, b: TensorLike): Tensor {
  requireTensor('where', cond, 'condition');
  const [ta, tb0] = operands('where', a, b);
  const dtype = promote(ta.dtype, tb0.dtype);
  const x = ta.dtype === dtype ? ta : cast(ta, dtype);
  const y = tb0.dtype === dtype ? tb0 : cast(tb0, dtype);
  const shape = broadcastShapes('where', broadcastShapes('where', cond.shape, x.shape), y.shape);
  const out = runKernel('where', 'where', { inputs: [cond, x, y], attrs: {}, shape, dtype, flops: 0 });
  return record('where', out, [x, y], (g) => [
    x.requiresGrad ? sumTo(where(cond, g, 0), x.shape) : null,
    y.requiresGrad ? sumTo(where(cond, 0, g), y.shape) : null,
  ], { condition: cond });
}

export function cast(x: Tensor, dtype: DType): Tensor {
  requireTensor('cast', x);
  checkDType('cast', dtype, x.shape);
  if (x.dtype === dtype) return x;
  if (dtype === 'int32') checkInt32('cast', x.dataSync(), x.shape, x.dtype);
  const out = runKernel('cast', 'cast', { inputs: [x], attrs: {}, shape: x.shape, dtype, flops: 0 });
  // Gradients only flow between float types; a cast to int32 ends the path.
  if (!isFloat(dtype) || !isFloat(x.dtype)) return out;
  return record('cast', out, [x], (g) => [cast(g, x.dtype)]);
}

/** Repeats `x` along broadcast dims to `shape` (NumPy broadcast_to, as a copy). */
export function broadcastTo(x: Tensor, shape: readonly number[]): Tensor {
  requireTensor('broadcastTo', x);
  checkShape('broadcastTo', shape);
  const target = broadcastShapes('broadcastTo', x.shape, shape);
  if (!sameShape(target, shape)) throw new Error(`broadcastTo: shape ${fmt(x.shape)} cannot be broadcast to ${fmt(shape)}`);
  if (sameShape(x.shape, shape)) return x;
  const out = runKernel('broadcastTo', 'expand', { inputs: [x], attrs: {}, shape, dtype: x.dtype, flops: 0 });
  return record('broadcastTo', out, [x], (g) => [sumTo(g, x.shape)]);
}
