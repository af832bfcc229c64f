import type { Tensor } from '@switch-ts/tensor';
import { fmt, requireInteger, requireMask, requireTensor } from './checks.js';

export type RoutingMode = 'tokens-choose' | 'batch-prioritized' | 'experts-choose';
export const routingModes: readonly RoutingMode[] = ['tokens-choose', 'batch-prioritized', 'experts-choose'];

/**
 * Expert capacity (eq. 3): the slots each expert has per group,
 * max(minCapacity, ⌈capacityFactor · k · S / E⌉), never more than S — an expert cannot receive
 * more than the group's S tokens (a token chooses an expert at most once), which is also why
 * capacityFactor = Infinity is dropless with finite buffers. The ceiling is exact for the decimal
 * the user wrote (see `ceilScaled`).
 */
export function expertCapacity(opts: {
  groupSize: number; numExperts: number; topK?: number; capacityFactor: number; minCapacity?: number;
}): number {
  const { groupSize, numExperts, topK = 1, capacityFactor, minCapacity = 1 } = opts;
  requireInteger('expertCapacity', 'groupSize', groupSize, 0);
  requireInteger('expertCapacity', 'numExperts', numExperts, 1);
  requireInteger('expertCapacity', 'topK', topK, 1, numExperts);
  requireInteger('expertCapacity', 'minCapacity', minCapacity, 0);
  if (!(capacityFactor > 0)) throw new Error(`expertCapacity: capacityFactor must be > 0 (Infinity = dropless), got ${capacityFactor}`);
  if (capacityFactor === Infinity) return groupSize;
  return Math.min(groupSize, Math.max(minCapacity, ceilScaled(capacityFactor, topK * groupSize, numExperts)));
}

/**
 * ⌈factor · n / d⌉ in exact integer arithmetic, with `factor` the decimal the user wrote: the
 * shortest decimal that reads back as the double, which is what String() prints ('1.1'). Float
 * arithmetic uses the double itself, 1.100000000000000088…, and rounds: ⌈1.1 · 100 / 2⌉ came
 * out 56, not 55, for about 0.5 % of the factors, groups and expert counts a model uses.
 */
function ceilScaled(factor: number, n: number, d: number): number {
  const [, whole, fraction = '', exponent = '0'] = /^(\d+)(?:\.(\d+))?(?:e([+-]\d+))?$/.exec(String(factor))!;
  const scale = Number(exponent) - fraction.length;
  const num = BigInt(whole! + fraction) * BigInt(n) * 10n ** BigInt(Math.max(scale, 0));
  const den = BigInt(d) * 10n ** BigInt(Math.max(-scale, 0));
  return Number((num + den - 1n) / den);
}

/**
 * Which token goes to which slot of which expert. One entry per kept (token, expert) route, so
 * that dispatch and combine work by indices: memory O(routes), never a [tokens, experts,
 * capacity] one-hot tensor.
 */
export interface Assignment {
  numGroups: number;
  /** S, tokens per group. */
  groupSize: number;
  numExperts: number;
  /** Slots per expert per group (C): the padded expert buffers are [E, numGroups · C, dModel]. */
  capacity: number;
  /**
   * true: the buffers are [E, G·C, dModel], empty slots included (static shapes, the Switch paper's
   * layout); false: the kept routes alone, [rows, dModel], expert by expert in the same order
   * (MegaBlocks' padding-free layout): expert e's rows are the tokensPerExpert[e] after those of
   * experts 0..e−1.
   */
  padded: boolean;
  /** Rows of the expert buffers: E·G·C padded, the kept routes packed. */
  rows: number;
  /** Flat token index g·S + s of each kept route. */
  token: Int32Array;
  /** Row of each kept route in the expert buffers: (e·G + g)·C + c padded, its rank among those packed. */
  slot: Int32Array;
  /** Flat index of each kept route's gate in `router[gateSource]`. */
  gate: Int32Array;
  /** Token-choice modes weight a route by its choice's gate [..., S, k]; experts-choose by p_e(x) [..., S, E]. */
  gateSource: 'gates' | 'probs';
  /** Routes kept per expert, summed over groups. */
  tokensPerExpert: number[];
  /** Unmasked tokens (padding excluded). */
  tokens: number;
  /** Unmasked tokens that no expert took: their layer output is zero. */
  droppedTokens: number;
}

/**
 * Capacity assignment: fills each expert's C slots per group.
 * - 'tokens-choose' (Switch, Mesh TensorFlow): in sequence order, all first choices before any
 *   second choice; a choice whose expert is full is dropped.
 * - 'batch-prioritized' (Riquelme et al. 2021, V-MoE): the same, with tokens ordered by their top
 *   router probability, highest first (ties in sequence order).
 * - 'experts-choose' (Zhou et al. 2022, §3.2: G, I = TopK(Sᵀ, k), S = Softmax(X·W_g)): each expert
 *   takes its C tokens of highest p_e(x) (ties to the earlier token); a token may be taken by
 *   several experts or by none. The paper's k = n·c/e is eq. 3's C with c = capacityFactor · topK
 *   (its c is the mean number of experts per token). `expertIndex` is ignored here (it still feeds
 *   the balance loss, which the paper does not use: balance 'none'). It is not causal: whether an
 *   expert takes a token depends on the scores of every token of the group, later ones included,
 *   so it cannot route a token of autoregressive decoding before the rest of its group exists.
 * Padding tokens (mask 0) are never dispatched.
 *
 * This is integer bookkeeping on the CPU (indices read with dataSync) and is not differentiable:
 * the choice of slot is piecewise constant in the router's output, so its derivative is zero
 * almost everywhere. Gradients reach the router through the gate values and reach the experts
 * and the input through the gathered activations, both of which are ordinary tensor ops.
 */
export function assignCapacity(opts: {
  probs: Tensor; expertIndex: Tensor; capacity: number; routing?: RoutingMode; mask?: Tensor;
  /** false: pack the kept routes without the empty slots (see `Assignment.padded`); default true. */
  pad?: boolean;
}): Assignment {
  const { probs, expertIndex, capacity, routing = 'tokens-choose', mask, pad = true } = opts;
  const op = 'assignCapacity';
  requireTensor(op, 'probs', probs);
  requireTensor(op, 'expertIndex', expertIndex);
  if (!routingModes.includes(routing)) throw new Error(`${op}: routing must be one of ${routingModes.join(', ')}, got '${routing}'`);
  if (probs.rank < 2) throw new Error(`${op}: probs must be [...groups, S, E], got ${fmt(probs.shape)}`);
  const tokenShape = probs.shape.slice(0, -1);
  const fits = expertIndex.rank === probs.rank && tokenShape.every((d, i) => d === expertIndex.shape[i]);
  if (!fits || expertIndex.dtype !== 'int32') {
    throw new Error(`${op}: expertIndex ${fmt(expertIndex.shape)} ${expertIndex.dtype} must be int32 [...groups, S, k] for probs ${fmt(probs.shape)}`);
  }
  if (mask !== undefined) requireMask(op, mask, tokenShape);
  requireInteger(op, 'capacity', capacity, 0);

  const numExperts = probs.shape[probs.rank - 1]!;
  const groupSize = tokenShape[tokenShape.length - 1]!;
  const numGroups = groupSize === 0 ? 0 : probs.size / (groupSize * numExperts);
  const k = expertIndex.shape[expertIndex.rank - 1]!;
  const p = probs.dataSync(), choice = expertIndex.dataSync(), m = mask?.dataSync();
  const slots = Math.min(capacity, groupSize);
  const isToken = (t: number): boolean => m === undefined || m[t] !== 0;

  const token: number[] = [], slot: number[] = [], gate: number[] = [];
  const tokensPerExpert = new Array<number>(numExperts).fill(0);
  const taken = new Uint8Array(numGroups * groupSize);
  const keep = (t: number, e: number, g: number, c: number, gateIndex: number): void => {
    token.push(t);
    slot.push((e * numGroups + g) * slots + c);
    gate.push(gateIndex);
    tokensPerExpert[e]!++;
    taken[t] = 1;
  };

  for (let g = 0; g < numGroups; g++) {
    const first = g * groupSize;
    const order = Array.from({ length: groupSize }, (_, s) => first + s).filter(isToken);
    if (routing === 'experts-choose') {
      for (let e = 0; e < numExperts; e++) {
        const byProb = order.slice().sort((a, b) => p[b * numExperts + e]! - p[a * numExperts + e]!);
        byProb.slice(0, slots).forEach((t, c) => keep(t, e, g, c, t * numExperts + e));
      }
      continue;
    }
    if (routing === 'batch-prioritized') order.sort((a, b) => p[b * numExperts + choice[b * k]!]! - p[a * numExperts + choice[a * k]!]!);
    const fill = new Int32Array(numExperts);
    for (let j = 0; j < k; j++) {
      for (const t of order) {
        const e = choice[t * k + j]!;
        if (e < 0 || e >= numExperts) throw new Error(`${op}: expertIndex ${e} of token ${t} is outside [0, ${numExperts})`);
        if (fill[e]! < slots) keep(t, e, g, fill[e]!++, t * k + j);
      }
    }
  }

  let tokens = 0, droppedTokens = 0;
  for (let t = 0; t < taken.length; t++) {
    if (!isToken(t)) continue;
    tokens++;
    if (!taken[t]) droppedTokens++;
  }
  return {
    numGroups, groupSize, numExperts, capacity: slots,
    padded: pad, rows: pad ? numExperts * numGroups * slots : slot.length,
    token: Int32Array.from(token), slot: pad ? Int32Array.from(slot) : packed(slot), gate: Int32Array.from(gate),
    gateSource: routing === 'experts-choose' ? 'probs' : 'gates',
    tokensPerExpert, tokens, droppedTokens,
  };
}

/**
 * MegaBlocks' padding-free layout (Gale et al. 2023, §5): each route's rank among the padded slots.
 * Padded slots are ordered expert by expert, so the ranks keep every expert's rows contiguous and
 * in the same order, and leave out the empty slots: the experts then compute only their tokens.
 */
function packed(paddedSlots: readonly number[]): Int32Array {
  const order = paddedSlots.map((_, i) => i).sort((a, b) => paddedSlots[a]! - paddedSlots[b]!);
  const rank = new Int32Array(paddedSlots.length);
  order.forEach((route, r) => (rank[route] = r));
  return rank;
}
