import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Rng, tensor } from '@switch-ts/tensor';
import { assignCapacity, expertCapacity, route, routingModes, type RoutingMode } from '@switch-ts/switch';
import { refAssign, refCapacity, refLogits, refSoftmax, refTopK, type Mat } from './reference/switch.js';

/** Random router outputs for G groups of S tokens over E experts: probabilities, top-k choices, a mask. */
const routerCase = fc
  .record({
    groups: fc.integer({ min: 1, max: 3 }),
    S: fc.integer({ min: 1, max: 9 }),
    E: fc.integer({ min: 1, max: 5 }),
    kPick: fc.nat(),
    seed: fc.nat(),
    padding: fc.constantFrom(0, 0.3),
  })
  .map(({ groups, S, E, kPick, seed, padding }) => {
    const rng = new Rng(seed);
    const k = 1 + (kPick % E);
    const probs: Mat[] = Array.from({ length: groups }, () =>
      Array.from({ length: S }, () => refSoftmax(Array.from({ length: E }, () => 2 * rng.normal()))));
    const choices = probs.map((group) => group.map((p) => refTopK(p, k)));
    const mask: Mat = probs.map((group) => group.map(() => (rng.next() < padding ? 0 : 1)));
    return { groups, S, E, k, probs, choices, mask };
  });

function tensorsOf(c: { groups: number; S: number; E: number; k: number; probs: Mat[]; choices: number[][][]; mask: Mat }) {
  return {
    probs: tensor(c.probs.flat(2), { shape: [c.groups, c.S, c.E], dtype: 'float64' }),
    expertIndex: tensor(c.choices.flat(2), { shape: [c.groups, c.S, c.k], dtype: 'int32' }),
    mask: tensor(c.mask.flat(), { shape: [c.groups, c.S], dtype: 'int32' }),
  };
}

/** The assignment as sorted "group:token→expert" strings, comparable to the reference's. */
function keptRoutes(a: ReturnType<typeof assignCapacity>): string[] {
  const routes = Array.from(a.token, (t, i) => {
    const e = Math.floor(a.slot[i]! / (a.numGroups * a.capacity));
    return `${Math.floor(t / a.groupSize)}:${t % a.groupSize}→${e}`;
  });
  return routes.sort();
}

describe('expertCapacity (eq. 3)', () => {
  it('is max(minCapacity, ⌈cf·k·S/E⌉), capped at S', () => {
    fc.assert(fc.property(
      fc.integer({ min: 0, max: 200 }), fc.integer({ min: 1, max: 64 }), fc.nat(), fc.double({ min: 0.01, max: 8, noNaN: true }), fc.integer({ min: 0, max: 5 }),
      (S, E, kPick, cf, minCapacity) => {
        const topK = 1 + (kPick % E);
        expect(expertCapacity({ groupSize: S, numExperts: E, topK, capacityFactor: cf, minCapacity })).toBe(refCapacity(S, E, topK, cf, minCapacity));
      }));
  });

  it('agrees with exact rational arithmetic on the decimal the user wrote, for cf = 0.1, 0.15, …, 4, k ≤ E ≤ 64, S ≤ 4096', () => {
    // cf = n/20 typed as a decimal: the string is built from integers, so the reference's fraction
    // is what the user wrote, not the double nearest it.
    const typed = (n: number): string => `${Math.floor(n / 20)}.${String((n % 20) * 5).padStart(2, '0')}`;
    fc.assert(fc.property(
      fc.integer({ min: 2, max: 80 }), fc.integer({ min: 0, max: 4096 }), fc.integer({ min: 1, max: 64 }), fc.nat(), fc.integer({ min: 0, max: 5 }),
      (n, S, E, kPick, minCapacity) => {
        const topK = 1 + (kPick % E);
        const capacity = expertCapacity({ groupSize: S, numExperts: E, topK, capacityFactor: Number(typed(n)), minCapacity });
        expect(capacity).toBe(refCapacity(S, E, topK, { num: BigInt(n), den: 20n }, minCapacity));
      }), { numRuns: 20_000 });
    // ⌈1.1·100/2⌉ = 55, where the double nearest 1.1 times 100 is 110.00000000000001.
    expect(expertCapacity({ groupSize: 100, numExperts: 2, capacityFactor: 1.1 })).toBe(55);
  });

  it('reads a factor in exponent notation or with 17 significant digits as the decimal it prints as', () => {
    expect(expertCapacity({ groupSize: 4096, numExperts: 1, capacityFactor: 1e-7 })).toBe(1);
    expect(expertCapacity({ groupSize: 3, numExperts: 1, capacityFactor: 0.30000000000000004, minCapacity: 0 })).toBe(1);
    expect(expertCapacity({ groupSize: 10, numExperts: 3, capacityFactor: 0.30000000000000004, minCapacity: 0 })).toBe(2);
    expect(expertCapacity({ groupSize: 4096, numExperts: 64, capacityFactor: 1e300 })).toBe(4096);
  });

  it('is S for capacityFactor = Infinity (dropless) and 1 for the paper\'s small example', () => {
    expect(expertCapacity({ groupSize: 37, numExperts: 4, capacityFactor: Infinity })).toBe(37);
    // Switch Fig. 3: 6 tokens, 3 experts, capacity factor 1.0 → 2 slots per expert.
    expect(expertCapacity({ groupSize: 6, numExperts: 3, capacityFactor: 1 })).toBe(2);
    expect(expertCapacity({ groupSize: 6, numExperts: 3, capacityFactor: 1.5 })).toBe(3);
  });
});

describe('assignCapacity', () => {
  it('keeps exactly the routes the reference keeps, in every routing mode (drop order)', () => {
    fc.assert(fc.property(routerCase, fc.constantFrom(...routingModes), fc.double({ min: 0.1, max: 3, noNaN: true }), (c, routing, cf) => {
      const capacity = refCapacity(c.S, c.E, c.k, cf, 0);
      const t = tensorsOf(c);
      const a = assignCapacity({ ...t, capacity, routing });
      const expected = c.probs.flatMap((p, g) =>
        refAssign(p, c.choices[g]!, capacity, routing, c.mask[g]!).map(({ token, expert }) => `${g}:${token}→${expert}`));
      expect(keptRoutes(a)).toEqual(expected.sort());
    }));
  });

  it('gives each expert at most its capacity per group, and fills it when enough tokens chose it', () => {
    fc.assert(fc.property(routerCase, fc.constantFrom(...routingModes), fc.integer({ min: 0, max: 4 }), (c, routing, capacity) => {
      const a = assignCapacity({ ...tensorsOf(c), capacity, routing });
      const load = new Map<string, number>();
      a.token.forEach((t, i) => {
        const key = `${Math.floor(t / c.S)}:${Math.floor(a.slot[i]! / (c.groups * a.capacity))}`;
        load.set(key, (load.get(key) ?? 0) + 1);
      });
      for (let g = 0; g < c.groups; g++) {
        const tokens = c.mask[g]!.filter((m) => m !== 0).length;
        for (let e = 0; e < c.E; e++) {
          const demand = routing === 'experts-choose'
            ? tokens
            : c.choices[g]!.filter((ch, s) => c.mask[g]![s] !== 0 && ch.includes(e)).length;
          expect(load.get(`${g}:${e}`) ?? 0).toBe(Math.min(capacity, demand));
        }
      }
    }));
  });

  it('gives every kept route its own slot, inside its expert\'s block of the [E, G·C] buffers', () => {
    fc.assert(fc.property(routerCase, fc.constantFrom(...routingModes), fc.integer({ min: 1, max: 4 }), (c, routing, capacity) => {
      const a = assignCapacity({ ...tensorsOf(c), capacity, routing });
      expect(new Set(a.slot).size).toBe(a.slot.length);
      a.slot.forEach((slot, i) => {
        const g = Math.floor(a.token[i]! / c.S);
        const withinExpert = slot % (c.groups * a.capacity);
        expect(Math.floor(withinExpert / a.capacity)).toBe(g);
      });
    }));
  });

  it('never dispatches padding tokens, and counts dropped tokens among the unmasked ones only', () => {
    fc.assert(fc.property(routerCase, fc.constantFrom(...routingModes), (c, routing) => {
      const a = assignCapacity({ ...tensorsOf(c), capacity: 1, routing });
      const flatMask = c.mask.flat();
      for (const t of a.token) expect(flatMask[t]).toBe(1);
      const tokens = flatMask.filter((m) => m !== 0).length;
      expect(a.tokens).toBe(tokens);
      expect(a.droppedTokens).toBe(tokens - new Set(a.token).size);
    }));
  });

  it('follows Switch Fig. 3: with capacity 2, the third token routed to a full expert is dropped (tokens-choose)', () => {
    // Tokens 0, 1, 2 choose expert 0; token 3 chooses expert 1.
    const probs = tensor([[[0.9, 0.1], [0.8, 0.2], [0.95, 0.05], [0.3, 0.7]]], { dtype: 'float64' });
    const expertIndex = tensor([[[0], [0], [0], [1]]], { dtype: 'int32' });
    const byMode = (routing: RoutingMode) => keptRoutes(assignCapacity({ probs, expertIndex, capacity: 2, routing }));
    expect(byMode('tokens-choose')).toEqual(['0:0→0', '0:1→0', '0:3→1']);
    expect(byMode('batch-prioritized')).toEqual(['0:0→0', '0:2→0', '0:3→1']);
    expect(byMode('experts-choose')).toEqual(['0:0→0', '0:2→0', '0:1→1', '0:3→1'].sort());
  });
});

describe('route (eq. 1)', () => {
  it('gives softmax(x·W_r) probabilities, top-k choices and gates (raw for k = 1, renormalized for k > 1)', () => {
    fc.assert(fc.property(fc.integer({ min: 1, max: 6 }), fc.integer({ min: 1, max: 4 }), fc.integer({ min: 1, max: 5 }), fc.nat(), fc.nat(), fc.boolean(),
      (S, d, E, kPick, seed, normalizeTopK) => {
        const rng = new Rng(seed);
        const k = 1 + (kPick % E);
        const x: Mat = Array.from({ length: S }, () => Array.from({ length: d }, () => rng.normal()));
        const w: Mat = Array.from({ length: d }, () => Array.from({ length: E }, () => rng.normal()));
        const r = route(tensor(x, { dtype: 'float64' }), tensor(w, { dtype: 'float64' }), { topK: k, normalizeTopK });
        const probs = r.probs.toArray() as Mat, gates = r.gates.toArray() as Mat;
        x.forEach((token, s) => {
          const p = refSoftmax(refLogits(token, w));
          p.forEach((v, e) => expect(Math.abs(probs[s]![e]! - v)).toBeLessThanOrEqual(1e-12));
          const top = refTopK(p, k);
          expect((r.expertIndex.toArray() as number[][])[s]).toEqual(top);
          const total = k > 1 && normalizeTopK ? top.reduce((a, e) => a + p[e]!, 0) : 1;
          top.forEach((e, j) => expect(Math.abs(gates[s]![j]! - p[e]! / total)).toBeLessThanOrEqual(1e-12));
        });
      }));
  });

  it('computes in the router dtype (selective precision) whatever the input dtype', () => {
    const r = route(tensor([[1, 2]]), tensor([[0.5, -1], [2, 0.25]]), { dtype: 'float64' });
    expect([r.logits.dtype, r.probs.dtype, r.gates.dtype, r.expertIndex.dtype]).toEqual(['float64', 'float64', 'float64', 'int32']);
  });

  it('rejects a topK outside 1..E, a jitter without an Rng and non-finite logits', () => {
    const x = tensor([[1, 2]], { dtype: 'float64' }), w = tensor([[1, 0], [0, 1]], { dtype: 'float64' });
    expect(() => route(x, w, { topK: 3 })).toThrow('route: topK = 3 must be an integer in [1, 2] (numExperts)');
    expect(() => route(x, w, { jitter: 0.1 })).toThrow('route: jitter > 0 needs an Rng (opts.rng)');
    expect(() => route(tensor([[1, NaN]], { dtype: 'float64' }), w)).toThrow('route: router logit is NaN for token 0, expert 0: the router input or weight is not finite');
  });
});
