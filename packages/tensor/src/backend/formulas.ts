import type { BinaryOp, UnaryOp } from './backend.js';

/**
 * The scalar formulas behind the elementwise kernels, written once, in the subset of JavaScript
 * that gpu.js compiles to GLSL and WebAssembly. The CPU backend compiles this same source into its
 * loops (cpu/loops.ts), the gpu backend adds it to its gpu.js instance (`formulaFunctions`), so
 * both run one formula and cannot drift.
 *
 * Two rules keep the GL targets honest. NaN is tested for explicitly (`v != v`) wherever a
 * comparison decides the result: GLSL leaves NaN comparisons undefined, and Mesa turns
 * "if (v <= 0) return 0" into a max() that drops the NaN. And no formula relies on a GLSL
 * built-in gpu.js does not define well (tanh: its polyfill overflows past |x| ≈ 44 and cancels
 * near 0).
 */

/** Each unary op as statements over `v` ending in a return. */
export const unaryFormulas: Record<UnaryOp, string> = {
  neg: 'return -v;',
  exp: 'return Math.exp(v);',
  log: 'return Math.log(v);',
  sqrt: 'return Math.sqrt(v);',
  abs: 'return Math.abs(v);',
  // ±0 and NaN return themselves, like Math.sign and torch.sign.
  sign: 'if (v != v) { return v; }\nif (v > 0) { return 1; }\nif (v < 0) { return -1; }\nreturn v;',
  // For |v| < 0.1 the Taylor series to v^15 (error below 1e-19 relative), since 1 − e^{−2|v|}
  // cancels there (in float32, 3e-3 relative at 1e-5); above it the exp form, which cannot overflow.
  tanh: `const a = Math.abs(v);
if (a < 0.1) {
  const s = v * v;
  return v * (1 + s * (-1 / 3 + s * (2 / 15 + s * (-17 / 315 + s * (62 / 2835 + s * (-1382 / 155925 +
    s * (21844 / 6081075 + s * (-929569 / 638512875))))))));
}
const e = Math.exp(-2 * a);
const t = (1 - e) / (1 + e);
if (v < 0) { return -t; }
return t;`,
  // Written with exp(−|v|) so that neither branch overflows; NaN falls to the second branch.
  sigmoid: 'if (v >= 0) { return 1 / (1 + Math.exp(-v)); }\nconst e = Math.exp(v);\nreturn e / (1 + e);',
  relu: 'if (v != v || v > 0) { return v; }\nreturn 0;',
  // GELU, tanh form (Hendrycks & Gimpel 2016; PyTorch's approximate='tanh', as in T5 v1.1 and
  // GPT-2): 0.5·v·(1 + tanh u), u = √(2/π)·(v + 0.044715·v³), computed as v·σ(2u), the same
  // function (1 + tanh u = 2σ(2u)): 1 + tanh u cancels where tanh u ≈ −1, a relative error of 3e-10
  // at v = −5 in double. σ from exp(−2|u|), as sigmoid, so that neither branch overflows.
  gelu: `const u = ${Math.sqrt(2 / Math.PI)} * (v + 0.044715 * v * v * v);
const e = Math.exp(-2 * Math.abs(u));
if (u >= 0) { return v / (1 + e); }
return v * e / (1 + e);`,
  // d gelu / dv = σ(2u) + 2v·σ(2u)·(1 − σ(2u))·du/dv, differentiated by hand from v·σ(2u); σ and
  // 1 − σ are e/(1 + e) and 1/(1 + e) in some order, neither of which cancels.
  geluGrad: `const u = ${Math.sqrt(2 / Math.PI)} * (v + 0.044715 * v * v * v);
const du = ${Math.sqrt(2 / Math.PI)} * (1 + ${3 * 0.044715} * v * v);
const e = Math.exp(-2 * Math.abs(u));
const p = 1 / (1 + e);
const q = e / (1 + e);
if (u >= 0) { return p + 2 * v * p * q * du; }
return q + 2 * v * q * p * du;`,
};

/** The IEEE 754-2019 maximum/minimum tail: equal values, or a NaN (then x + y is NaN). */
const equalOrNaN = (zeros: string) => `if (x == y && x != 0) { return x; }\n${zeros}`;

/** Each binary op as statements over `x` and `y` ending in a return. */
export const binaryFormulas: Record<BinaryOp, string> = {
  add: 'return x + y;',
  sub: 'return x - y;',
  mul: 'return x * y;',
  div: 'return x / y;',
  // IEEE 754 pow, as NumPy and PyTorch have it (JavaScript's Math.pow differs at pow(1, NaN) and
  // pow(−1, ±Infinity), which are 1). GLSL's pow is undefined for x < 0 and for x = 0, y < 0, and
  // gives numbers for NaN, so the special cases are taken first: a zero base under a negative
  // exponent gives Infinity (1 / +0), x¹ is x exactly (GLSL's pow overflows float32's largest), a negative base (or −0, told apart by 1 / −0 = −Infinity)
  // keeps its sign under an odd exponent, and a finite negative base gives NaN (√−1) under a
  // non-integer one, where an infinite base (x·2 = x) does not. (gpu.js has no boolean locals.)
  pow: `if (y == 0 || x == 1) { return 1; }
if (y == 1) { return x; }
if (x != x) { return x; }
if (y != y) { return y; }
if (x == -1 && Math.floor(y * 0.5) * 2 == y) { return 1; }
let p = Math.pow(Math.abs(x), y);
if (x == 0 && y < 0) { p = 1 / Math.abs(x); }
if (x > 0) { return p; }
if (Math.floor(y) != y) {
  if (x < 0 && x * 2 != x) { return Math.sqrt(-1 - Math.abs(x)); }
  return p;
}
if (Math.floor(y * 0.5) * 2 == y) { return p; }
if (x < 0 || 1 / x < 0) { return -p; }
return p;`,
  // NaN propagates; ±0 are ordered −0 < +0, so max(−0, +0) is +0 in either order.
  maximum: `if (x > y) { return x; }\nif (y > x) { return y; }\n${equalOrNaN('return x + y;')}`,
  minimum: `if (x < y) { return x; }\nif (y < x) { return y; }\n${equalOrNaN('return -(-x - y);')}`,
  eq: 'if (x == y) { return 1; }\nreturn 0;',
  ne: 'if (x != y) { return 1; }\nreturn 0;',
  lt: 'if (x < y) { return 1; }\nreturn 0;',
  le: 'if (x <= y) { return 1; }\nreturn 0;',
  gt: 'if (x > y) { return 1; }\nreturn 0;',
  ge: 'if (x >= y) { return 1; }\nreturn 0;',
};

/** The function a formula compiles to: `op_relu`, `op_maximum` (prefixed to stay clear of GLSL built-ins). */
export const formulaName = (op: UnaryOp | BinaryOp): string => `op_${op}`;

const unarySource = (op: UnaryOp): string => `function ${formulaName(op)}(v) {\n${unaryFormulas[op]}\n}`;
const binarySource = (op: BinaryOp): string => `function ${formulaName(op)}(x, y) {\n${binaryFormulas[op]}\n}`;

const unaryOps = Object.keys(unaryFormulas) as UnaryOp[];
const binaryOps = Object.keys(binaryFormulas) as BinaryOp[];

/** Every formula as a named function source with its parameters. */
export const formulaFunctions: { source: string; params: string[] }[] = [
  ...unaryOps.map((op) => ({ source: unarySource(op), params: ['v'] })),
  ...binaryOps.map((op) => ({ source: binarySource(op), params: ['x', 'y'] })),
];
