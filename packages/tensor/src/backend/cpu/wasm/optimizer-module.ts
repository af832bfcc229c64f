import { assemble, FunctionBody, type PlainOp } from './assembler.js';

/**
 * Writes the optimizer module: Adam's one-pass step over float32 parameters (optim/adam.ts), two
 * coordinates at a time in float64 lanes (f64x2), the odd last one alone.
 *
 * The JS loop it stands in for reads float32, computes in double and rounds when it stores; this
 * does the same operations on the same doubles in the same order (no fused multiply-add, every
 * f64 operation correctly rounded in both), so it stores the same bits. Two lanes rather than
 * four float32 ones: rounding each operation to float32 would move the result by a few ulp, and
 * the step's cost is its memory traffic and its √ and ÷, which float64 lanes do at half the rate.
 */

/** Adam's per-step constants, in the order `adam` takes them after the addresses and the count. */
export const ADAM_COEFFICIENTS = ['beta1', 'beta2', 'k1', 'k2', 'decay', 'stepSize', 'inverseRoot2', 'eps'] as const;
export type AdamCoefficients = Record<(typeof ADAM_COEFFICIENTS)[number], number>;

/**
 * How one form of the step reads, computes and writes: on a pair of coordinates (f64x2 lanes, 8
 * bytes of float32) or on one (f64, 4 bytes).
 */
interface Form {
  bytes: number;
  value: 'v128' | 'f64';
  load(address: number): void;
  store(address: number, value: number): void;
  coefficient(name: (typeof ADAM_COEFFICIENTS)[number]): void;
  op(name: 'add' | 'sub' | 'mul' | 'div' | 'sqrt'): PlainOp;
}

const ADDRESSES = 4; // theta, grad, m, v, then n, then the coefficients

/**
 * adam(theta, grad, m, v, n, beta1, beta2, k1, k2, decay, stepSize, inverseRoot2, eps), for n
 * float32 coordinates at the four byte addresses:
 *   m ← β₁m + k₁g,  v ← β₂v + (k₂g)g,  θ ← θ·decay − (stepSize·m) / (√v·inverseRoot2 + ε),
 * with the unrounded m and v in θ's update, as in the JS loop.
 */
function adam(): FunctionBody {
  const f = new FunctionBody(['i32', 'i32', 'i32', 'i32', 'i32', ...ADAM_COEFFICIENTS.map(() => 'f64' as const)]);
  const [theta, grad, m, v, n] = [0, 1, 2, 3, 4];
  const coefficientParam = (name: (typeof ADAM_COEFFICIENTS)[number]) => ADDRESSES + 1 + ADAM_COEFFICIENTS.indexOf(name);
  const splats = Object.fromEntries(ADAM_COEFFICIENTS.map((name) => {
    const local = f.local('v128');
    f.get(coefficientParam(name)).op('f64x2.splat').set(local);
    return [name, local];
  })) as Record<(typeof ADAM_COEFFICIENTS)[number], number>;
  const pair: Form = {
    bytes: 8, value: 'v128',
    load: (at) => f.get(at).mem('v128.load64_zero').op('f64x2.promote_low_f32x4'),
    store: (at, value) => f.get(at).get(value).op('f32x4.demote_f64x2_zero').store64Lane(0),
    coefficient: (name) => f.get(splats[name]),
    op: (name) => `f64x2.${name}`,
  };
  const single: Form = {
    bytes: 4, value: 'f64',
    load: (at) => f.get(at).mem('f32.load').op('f64.promote_f32'),
    store: (at, value) => f.get(at).get(value).op('f32.demote_f64').mem('f32.store'),
    coefficient: (name) => f.get(coefficientParam(name)),
    op: (name) => `f64.${name}`,
  };

  const step = (form: Form) => {
    const [g, mi, vi, next] = f.locals(form.value, 4);
    const { load, store, coefficient: c } = form;
    const op = (name: Parameters<Form['op']>[0]) => f.op(form.op(name));
    load(grad); f.set(g);
    c('beta1'); load(m); op('mul'); c('k1'); f.get(g); op('mul'); op('add'); f.set(mi);
    store(m, mi);
    c('beta2'); load(v); op('mul'); c('k2'); f.get(g); op('mul'); f.get(g); op('mul'); op('add'); f.set(vi);
    store(v, vi);
    load(theta); c('decay'); op('mul');
    c('stepSize'); f.get(mi); op('mul');
    f.get(vi); op('sqrt'); c('inverseRoot2'); op('mul'); c('eps'); op('add');
    op('div'); op('sub'); f.set(next);
    store(theta, next);
    for (const at of [theta, grad, m, v]) f.addTo(at, form.bytes);
  };

  const [pairs] = f.locals('i32', 1);
  f.get(n).i32(2).op('i32.div_u').set(pairs);
  f.repeat(pairs, () => step(pair));
  f.get(n).i32(1).op('i32.and');
  f.ifElse(() => step(single));
  return f;
}

/** The module's bytes; it imports its memory as env.memory (shared, up to `maxPages`, when it is the tensor heap). */
export function optimizerModule(shared?: { maxPages: number }): Uint8Array {
  return assemble({ memory: { module: 'env', field: 'memory', minPages: 1, shared }, functions: { adam: adam() } });
}
