/**
 * Reference math for the Switch layer, written from the papers as plain float64 loops over one
 * token at a time. Independent of the library on purpose: it imports nothing from it, uses no
 * tensors and no index tricks, so that a property comparing the two compares two derivations.
 *
 * Fedus, Zoph & Shazeer 2021 (Switch Transformers): eq. 1 router softmax, eq. 2 gated sum of
 * expert outputs, eq. 3 expert capacity, eqs. 4–6 load-balancing loss. Zoph et al. 2022 (ST-MoE):
 * eq. 5 router z-loss. Zhou et al. 2022: expert-choice routing. Riquelme et al. 2021: batch
 * prioritized routing. Wang et al. 2024: the loss-free selection bias. Qiu et al. 2025: the
 * global-batch balance loss. Dai et al. 2024 (DeepSeekMoE): shared experts. The methods after
 * Switch also have loops of their own, one per paper, in routing.ts.
 */

import { gelu } from './elementwise.js';

export type Vec = number[];
export type Mat = number[][];
export type RefRouting = 'tokens-choose' | 'batch-prioritized' | 'experts-choose';

export interface RefParams {
  router: Mat; // [dModel][E]
  wi: Mat[]; // [E][dModel][dFF]
  wo: Mat[]; // [E][dFF][dModel]
  /** DeepSeekMoE's shared experts, applied to every token outside the routing: [K_s][dModel][dFF] and [K_s][dFF][dModel]. */
  sharedWi?: Mat[];
  sharedWo?: Mat[];
}

export interface RefOptions {
  topK: number;
  capacityFactor: number;
  minCapacity: number;
  routing: RefRouting;
  normalizeTopK: boolean;
  activation: 'relu' | 'gelu';
  balanceCoef: number;
  zLossCoef: number;
  /** Wang et al. 2024: added to p for the choice of experts only; default none. */
  bias?: Vec;
  /** 'aux-loss' (default) adds α·balance to the aux loss; 'loss-free' and 'none' do not. */
  balance?: 'aux-loss' | 'loss-free' | 'none';
  /** Qiu et al. 2025: f_i counted over every group ('batch') or each group's own ('group', default). */
  balanceScope?: 'group' | 'batch';
}

/** A (token, expert) pair that got a slot; `gate` is the weight of E_expert(x) in the token's output. */
export interface RefRoute {
  token: number;
  expert: number;
  gate: number;
}

function vecMat(x: Vec, w: Mat): Vec {
  const out = new Array<number>(w[0]!.length).fill(0);
  for (let i = 0; i < x.length; i++) {
    for (let j = 0; j < out.length; j++) out[j]! += x[i]! * w[i]![j]!;
  }
  return out;
}

/** One expert, T5 style without biases: act(x·W_i)·W_o. */
export function refFFN(x: Vec, wi: Mat, wo: Mat, activation: 'relu' | 'gelu'): Vec {
  const hidden = vecMat(x, wi).map((v) => (activation === 'relu' ? Math.max(v, 0) : gelu(v)));
  return vecMat(hidden, wo);
}

export function refLogits(x: Vec, router: Mat): Vec {
  return vecMat(x, router);
}

export function refLogSumExp(h: Vec): number {
  const m = Math.max(...h);
  return m + Math.log(h.reduce((s, v) => s + Math.exp(v - m), 0));
}

/** Eq. 1: p_i(x) = e^{h_i} / Σ_j e^{h_j}. */
export function refSoftmax(h: Vec): Vec {
  const lse = refLogSumExp(h);
  return h.map((v) => Math.exp(v - lse));
}

/** The k largest entries' indices, largest first, ties to the lower index. */
export function refTopK(p: Vec, k: number): number[] {
  const idx = p.map((_, i) => i);
  idx.sort((a, b) => (p[b]! !== p[a]! ? p[b]! - p[a]! : a - b));
  return idx.slice(0, k);
}

/** An exact fraction num / den (den > 0). */
export interface Fraction {
  num: bigint;
  den: bigint;
}

/**
 * The decimal a user wrote for the double x, as an exact fraction: the fewest significant digits
 * p whose x.toPrecision(p) reads back as x (1.1, not the double's 1.100000000000000088817…).
 */
export function refDecimal(x: number): Fraction {
  let p = 1;
  while (Number(x.toPrecision(p)) !== x) p++;
  const [mantissa, exponent = '0'] = x.toPrecision(p).split('e');
  const [whole, fraction = ''] = mantissa!.split('.');
  const scale = Number(exponent) - fraction.length;
  const digits = BigInt(whole! + fraction);
  return scale >= 0 ? { num: digits * 10n ** BigInt(scale), den: 1n } : { num: digits, den: 10n ** BigInt(-scale) };
}

/**
 * Eq. 3 with the t5x floor: max(minCapacity, ⌈cf·k·S/E⌉), and no expert takes more than S, in
 * exact rational arithmetic: cf is the decimal the user wrote (a number is read by refDecimal) or
 * an exact fraction; Infinity is dropless.
 */
export function refCapacity(S: number, E: number, k: number, capacityFactor: number | Fraction, minCapacity: number): number {
  if (capacityFactor === Infinity) return S;
  const { num, den } = typeof capacityFactor === 'number' ? refDecimal(capacityFactor) : capacityFactor;
  const product = num * BigInt(k * S), divisor = den * BigInt(E);
  const ceil = product / divisor + (product % divisor === 0n ? 0n : 1n);
  const formula = ceil > BigInt(minCapacity) ? ceil : BigInt(minCapacity);
  return formula < BigInt(S) ? Number(formula) : S;
}

/**
 * Who gets a slot in one group, by mode. probs [S][E], choices [S][k], mask [S] (1 = token).
 * Token-choice modes walk the choices, first choices of every token before second choices,
 * tokens in sequence order (tokens-choose) or by descending top probability (batch-prioritized).
 * Experts-choose lets each expert take its `capacity` most probable tokens.
 */
export function refAssign(probs: Mat, choices: number[][], capacity: number, routing: RefRouting, mask: Vec): { token: number; expert: number; choice: number }[] {
  const S = probs.length, E = probs[0]?.length ?? 0;
  const kept: { token: number; expert: number; choice: number }[] = [];
  const tokens: number[] = [];
  for (let s = 0; s < S; s++) if (mask[s] !== 0) tokens.push(s);
  if (routing === 'experts-choose') {
    for (let e = 0; e < E; e++) {
      const ranked = tokens.slice().sort((a, b) => (probs[b]![e]! !== probs[a]![e]! ? probs[b]![e]! - probs[a]![e]! : a - b));
      for (const s of ranked.slice(0, capacity)) kept.push({ token: s, expert: e, choice: -1 });
    }
    return kept;
  }
  if (routing === 'batch-prioritized') {
    const top = (s: number): number => probs[s]![choices[s]![0]!]!;
    tokens.sort((a, b) => (top(b) !== top(a) ? top(b) - top(a) : a - b));
  }
  const load = new Array<number>(E).fill(0);
  const k = choices[0]?.length ?? 0;
  for (let j = 0; j < k; j++) {
    for (const s of tokens) {
      const e = choices[s]![j]!;
      if (load[e]! < capacity) {
        load[e]!++;
        kept.push({ token: s, expert: e, choice: j });
      }
    }
  }
  return kept;
}

/** Eqs. 4–6 for one group: E · Σ_i f_i · P_i over unmasked tokens; f counts choices / (k·tokens). */
export function refGroupBalance(probs: Mat, choices: number[][], mask: Vec): number {
  const E = probs[0]!.length;
  let tokens = 0, k = 0;
  const f = new Array<number>(E).fill(0), P = new Array<number>(E).fill(0);
  probs.forEach((p, s) => {
    if (mask[s] === 0) return;
    tokens++;
    k = choices[s]!.length;
    for (const e of choices[s]!) f[e]! += 1;
    for (let e = 0; e < E; e++) P[e]! += p[e]!;
  });
  let loss = 0;
  for (let e = 0; e < E; e++) loss += (f[e]! / (k * tokens)) * (P[e]! / tokens);
  return E * loss;
}

/** ST-MoE eq. 5 for one group: mean over unmasked tokens of (log Σ_j e^{h_j})². */
export function refGroupZLoss(logits: Mat, mask: Vec): number {
  let sum = 0, tokens = 0;
  logits.forEach((h, s) => {
    if (mask[s] === 0) return;
    tokens++;
    sum += refLogSumExp(h) ** 2;
  });
  return sum / tokens;
}

/** Averages per-group values over the groups that have any unmasked token. */
export function refMeanOverGroups(perGroup: (number | null)[]): number {
  const present = perGroup.filter((v): v is number => v !== null);
  return present.length === 0 ? 0 : present.reduce((a, b) => a + b, 0) / present.length;
}

export function refBalanceLoss(probs: Mat[], choices: number[][][], masks: Mat, scope: 'group' | 'batch' = 'group'): number {
  if (scope === 'batch') return refGlobalBatchBalance(probs, choices, masks);
  return refMeanOverGroups(probs.map((p, g) => (masks[g]!.some((m) => m !== 0) ? refGroupBalance(p, choices[g]!, masks[g]!) : null)));
}

/**
 * Qiu et al. 2025 (*Demons in the Detail: On Implementing Load Balancing Loss for Training
 * Specialized Mixture-of-Expert Models*), eq. 4: LBL = E · Σ_i f̄_i · P_i with f̄_i the fraction of
 * the choices of *all* groups' tokens (the global batch) that went to expert i, P_i each group's
 * own mean probability; averaged over the groups that have tokens.
 */
export function refGlobalBatchBalance(probs: Mat[], choices: number[][][], masks: Mat): number {
  const E = probs[0]?.[0]?.length ?? 0;
  const f = new Array<number>(E).fill(0);
  let choicesMade = 0;
  choices.forEach((group, g) => group.forEach((chosen, s) => {
    if (masks[g]![s] === 0) return;
    for (const e of chosen) f[e]! += 1;
    choicesMade += chosen.length;
  }));
  return refMeanOverGroups(probs.map((group, g) => {
    const tokens = group.filter((_, s) => masks[g]![s] !== 0);
    if (tokens.length === 0) return null;
    let loss = 0;
    for (let e = 0; e < E; e++) loss += (f[e]! / choicesMade) * (tokens.reduce((sum, p) => sum + p[e]!, 0) / tokens.length);
    return E * loss;
  }));
}

export function refZLoss(logits: Mat[], masks: Mat): number {
  return refMeanOverGroups(logits.map((h, g) => (masks[g]!.some((m) => m !== 0) ? refGroupZLoss(h, masks[g]!) : null)));
}

export interface RefForward {
  output: Mat[]; // [G][S][dModel]
  routes: RefRoute[][]; // per group
  capacity: number;
  balanceLoss: number;
  zLoss: number;
  auxLoss: number;
  /** Smallest gap the routing decisions depend on (probabilities, priorities, relu inputs). */
  margin: number;
}

/** The whole layer on groups x [G][S][dModel], one token at a time. */
export function refSwitchForward(x: Mat[], params: RefParams, opts: RefOptions, masks?: Mat): RefForward {
  const G = x.length, S = x[0]!.length, E = params.router[0]!.length;
  const mask = masks ?? x.map((group) => group.map(() => 1));
  const capacity = refCapacity(S, E, opts.topK, opts.capacityFactor, opts.minCapacity);
  const logits = x.map((group) => group.map((token) => refLogits(token, params.router)));
  const probs = logits.map((group) => group.map(refSoftmax));
  // Wang et al. 2024 eq. 3: the choice ranks p_i + b_i; the gates below stay p_i.
  const scores = probs.map((group) => group.map((p) => p.map((v, e) => v + (opts.bias?.[e] ?? 0))));
  const choices = scores.map((group) => group.map((p) => refTopK(p, opts.topK)));
  let margin = Infinity;
  const output: Mat[] = [], routes: RefRoute[][] = [];
  for (let g = 0; g < G; g++) {
    const kept = refAssign(probs[g]!, choices[g]!, capacity, opts.routing, mask[g]!);
    const groupRoutes = kept.map(({ token, expert, choice }) => {
      const p = probs[g]![token]!;
      let gate = p[expert]!;
      if (choice >= 0 && opts.topK > 1 && opts.normalizeTopK) gate /= choices[g]![token]!.reduce((s, e) => s + p[e]!, 0);
      return { token, expert, gate };
    });
    const out = x[g]!.map((token) => token.map(() => 0));
    // DeepSeekMoE eq. 9: every shared expert, ungated, on every (unmasked) token.
    (params.sharedWi ?? []).forEach((wi, i) => x[g]!.forEach((token, s) => {
      if (mask[g]![s] === 0) return;
      refFFN(token, wi, params.sharedWo![i]!, opts.activation).forEach((v, j) => (out[s]![j]! += v));
      if (opts.activation === 'relu') margin = Math.min(margin, ...vecMat(token, wi).map(Math.abs));
    }));
    for (const { token, expert, gate } of groupRoutes) {
      const y = refFFN(x[g]![token]!, params.wi[expert]!, params.wo[expert]!, opts.activation);
      y.forEach((v, i) => (out[token]![i]! += gate * v));
      if (opts.activation === 'relu') margin = Math.min(margin, ...vecMat(x[g]![token]!, params.wi[expert]!).map(Math.abs));
    }
    output.push(out);
    routes.push(groupRoutes);
    margin = Math.min(margin, routingMargin(probs[g]!, scores[g]!, mask[g]!, opts.routing));
  }
  const balanceLoss = refBalanceLoss(probs, choices, mask, opts.balanceScope);
  const zLoss = refZLoss(logits, mask);
  const balanceTerm = (opts.balance ?? 'aux-loss') === 'aux-loss' ? opts.balanceCoef * balanceLoss : 0;
  return { output, routes, capacity, balanceLoss, zLoss, auxLoss: balanceTerm + opts.zLossCoef * zLoss, margin };
}

function minGap(values: number[]): number {
  const sorted = values.slice().sort((a, b) => b - a);
  let gap = Infinity;
  for (let i = 1; i < sorted.length; i++) gap = Math.min(gap, sorted[i - 1]! - sorted[i]!);
  return gap;
}

/** The gaps whose sign decides routing: each token's ranking of experts (by its scores), and the mode's ranking of tokens. */
function routingMargin(probs: Mat, scores: Mat, mask: Vec, routing: RefRouting): number {
  const tokens = probs.filter((_, s) => mask[s] !== 0);
  let margin = Math.min(Infinity, ...scores.filter((_, s) => mask[s] !== 0).map(minGap));
  if (routing === 'batch-prioritized') margin = Math.min(margin, minGap(tokens.map((p) => Math.max(...p))));
  if (routing === 'experts-choose') {
    for (let e = 0; e < (probs[0]?.length ?? 0); e++) margin = Math.min(margin, minGap(tokens.map((p) => p[e]!)));
  }
  return margin;
}

/** The dense MoE ensemble: Σ_i p_i(x) E_i(x) over every expert. */
export function refDenseEnsemble(x: Vec, params: RefParams, activation: 'relu' | 'gelu'): Vec {
  const p = refSoftmax(refLogits(x, params.router));
  const out = x.map(() => 0);
  p.forEach((pe, e) => refFFN(x, params.wi[e]!, params.wo[e]!, activation).forEach((v, i) => (out[i]! += pe * v)));
  return out;
}
