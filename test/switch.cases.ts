import fc from 'fast-check';
import { expect } from 'vitest';
import { Rng, tensor, type Tensor } from '@switch-ts/tensor';
import { SwitchLayer, expertLayout, routingModes, type RoutingMode, type SwitchLayerOptions } from '@switch-ts/switch';
import { noiseFloor } from './gradcheck.js';
import { normwiseError } from './tolerance.js';
import { refSwitchForward, type Mat, type RefOptions, type RefParams } from './reference/switch.js';

/** Random small layers for the switch property tests, and the same numbers as nested arrays for the reference. */

export type Case = {
  groups: number; S: number; dModel: number; dFF: number; E: number; topK: number;
  routing: RoutingMode; capacityFactor: number; evalCapacityFactor: number; minCapacity: number;
  normalizeTopK: boolean; activation: 'relu' | 'gelu'; initScale: number; seed: number;
  padding: number; flat: boolean; training: boolean;
};

export const capacityFactors = fc.oneof(fc.constantFrom(0.5, 1, 1.25, 2, Infinity), fc.double({ min: 0.2, max: 3, noNaN: true }));

export const layerCase: fc.Arbitrary<Case> = fc
  .record({
    groups: fc.integer({ min: 1, max: 3 }),
    S: fc.integer({ min: 1, max: 6 }),
    dModel: fc.integer({ min: 1, max: 4 }),
    dFF: fc.integer({ min: 1, max: 5 }),
    E: fc.integer({ min: 1, max: 4 }),
    kPick: fc.nat(),
    routing: fc.constantFrom(...routingModes),
    capacityFactor: capacityFactors,
    evalCapacityFactor: capacityFactors,
    minCapacity: fc.integer({ min: 0, max: 2 }),
    normalizeTopK: fc.boolean(),
    activation: fc.constantFrom('relu' as const, 'gelu' as const),
    initScale: fc.double({ min: 0.5, max: 4, noNaN: true }),
    seed: fc.nat(),
    padding: fc.constantFrom(0, 0.3),
    flat: fc.boolean(),
    training: fc.boolean(),
  })
  .map(({ kPick, ...c }) => ({ ...c, topK: 1 + (kPick % c.E), flat: c.flat && c.groups === 1 }));

/**
 * A float64 layer for a case (with `extra` options on top), its input and mask, and the same
 * numbers as nested arrays for the reference, whose E and k are the layer's routed experts and
 * routed choices (`expertLayout`: fine-grained and shared experts change them).
 */
export function setUp(c: Case, extra: Partial<SwitchLayerOptions> = {}) {
  const layer = new SwitchLayer({
    dModel: c.dModel, dFF: c.dFF, numExperts: c.E, topK: c.topK, routing: c.routing,
    capacityFactor: c.capacityFactor, evalCapacityFactor: c.evalCapacityFactor, minCapacity: c.minCapacity,
    normalizeTopK: c.normalizeTopK, activation: c.activation, initScale: c.initScale,
    dtype: 'float64', seed: c.seed, ...extra,
  }).train(c.training);
  const rng = new Rng(c.seed + 1);
  const xs: Mat[] = Array.from({ length: c.groups }, () => Array.from({ length: c.S }, () => Array.from({ length: c.dModel }, () => rng.normal())));
  const masks: Mat = xs.map((g) => g.map(() => (rng.next() < c.padding ? 0 : 1)));
  const shape = c.flat ? [c.S, c.dModel] : [c.groups, c.S, c.dModel];
  const x = tensor(xs.flat(2), { shape, dtype: 'float64' });
  const mask = c.padding > 0 ? tensor(masks.flat(), { shape: shape.slice(0, -1), dtype: 'int32' }) : undefined;
  const refOpts: RefOptions = {
    topK: expertLayout(layer.config).routedTopK, routing: c.routing, minCapacity: c.minCapacity, normalizeTopK: c.normalizeTopK, activation: c.activation,
    capacityFactor: c.training ? c.capacityFactor : c.evalCapacityFactor,
    balanceCoef: extra.balanceCoef ?? 0.01, zLossCoef: extra.zLossCoef ?? 0.001,
    ...(extra.balance && { balance: extra.balance }),
    ...(extra.balanceScope && { balanceScope: extra.balanceScope }),
  };
  return { layer, x, xs, mask, masks, params: paramsOf(layer), refOpts };
}

export function paramsOf(layer: SwitchLayer): RefParams {
  const named = new Map(layer.namedParameters());
  const shared = named.has('shared.wi') ? { sharedWi: named.get('shared.wi')!.toArray() as Mat[], sharedWo: named.get('shared.wo')!.toArray() as Mat[] } : {};
  return {
    router: named.get('router.weight')!.toArray() as Mat,
    wi: named.get('experts.wi')!.toArray() as Mat[],
    wo: named.get('experts.wo')!.toArray() as Mat[],
    ...shared,
  };
}

export const flatten = (m: Mat[]): number[] => m.flat(2);

/** max |actual − expected| ≤ rel · max |expected|: relative to the size of the result. */
export function expectClose(actual: ArrayLike<number>, expected: ArrayLike<number>, rel = 1e-10): void {
  expect(normwiseError(actual, expected)).toBeLessThanOrEqual(rel);
}

export function entropy(p: number[]): number {
  return -p.reduce((s, v) => s + (v > 0 ? v * Math.log(v) : 0), 0);
}

export function nest(flat: ArrayLike<number>, shape: number[]): unknown {
  if (shape.length === 1) return Array.from(flat);
  const inner = shape.slice(1).reduce((a, b) => a * b, 1);
  return Array.from({ length: shape[0]! }, (_, i) => nest(Array.prototype.slice.call(flat, i * inner, (i + 1) * inner), shape.slice(1)));
}

/**
 * The layer's gradients against central finite differences of the reference, for every parameter
 * (shared experts included) and the input: the loss is Σ output ⊙ R + auxLoss for random R. Null
 * when a routing decision or a relu input is within 1e-3 of flipping (finite differences would
 * cross it). `refOpts` may add what the layer holds besides its parameters (the loss-free bias).
 */
export function gradientErrors(set: ReturnType<typeof setUp>, c: Case, rSeed: number, refOverrides: Partial<RefOptions> = {}): { name: string; err: number }[] | null {
  const h = 1e-5;
  const { layer, xs, masks, params } = set;
  const refOpts = { ...set.refOpts, ...refOverrides };
  if (!(refSwitchForward(xs, params, refOpts, masks).margin > 1e-3)) return null;
  const rRng = new Rng(rSeed);
  const R = xs.map((g) => g.map((t) => t.map(() => rRng.normal())));
  const x = tensor(xs, { dtype: 'float64', requiresGrad: true });
  const mask = tensor(masks, { dtype: 'int32' });
  const { output, auxLoss } = layer.forward(x, c.padding > 0 ? { mask } : {});
  output.mul(tensor(R, { dtype: 'float64' })).sum().add(auxLoss).backward();

  const Rflat = R.flat(2);
  const terms = (p: RefParams, input: Mat[]): number[] => {
    const ref = refSwitchForward(input, p, refOpts, masks);
    return [...ref.output.flat(2).map((v, i) => v * Rflat[i]!), ref.auxLoss];
  };
  const loss = (p: RefParams, input: Mat[]): number => terms(p, input).reduce((s, v) => s + v, 0);
  const magnitude = terms(params, xs).reduce((s, v) => s + Math.abs(v), 0);
  const field: Record<string, keyof RefParams> = {
    'router.weight': 'router', 'experts.wi': 'wi', 'experts.wo': 'wo', 'shared.wi': 'sharedWi', 'shared.wo': 'sharedWo',
  };
  const leaves: [string, Tensor, (v: Float64Array) => number][] = [
    ...[...layer.namedParameters()].map(([name, p]): [string, Tensor, (v: Float64Array) => number] =>
      [name, p, (v) => loss({ ...params, [field[name]!]: nest(v, p.shape.slice()) }, xs)]),
    ['x', x, (v) => loss(params, nest(v, [c.groups, c.S, c.dModel]) as Mat[])],
  ];
  return leaves.map(([name, leaf, f]) => {
    const base = Float64Array.from(leaf.dataSync());
    const fd = Array.from(base, (_, i) => {
      const plus = base.slice(), minus = base.slice();
      plus[i]! += h;
      minus[i]! -= h;
      return (f(plus) - f(minus)) / (2 * h);
    });
    const g = leaf.grad ? Array.from(leaf.grad.dataSync()) : fd.map(() => 0);
    // A leaf whose gradient is tiny next to the loss (an expert behind a GELU near zero) is
    // measured against the central difference's rounding noise, not its own norm (gradcheck.ts).
    const err = Math.hypot(...g.map((v, i) => v - fd[i]!));
    const scale = Math.max(Math.hypot(...fd), noiseFloor(magnitude, h));
    return { name, err: err / scale };
  });
}
