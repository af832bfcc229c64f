/**
 * Reference math for the Switch layer, written from the papers as plain float64 loops over one
 * token at a time. Independent of the library on purpose: it imports nothing from it, uses no
 * tensors and no index tricks, so that a property comparing the two compares two derivations.
 *
 * Fedus, Zoph & Shazeer 2021 (Switch Transformers): eq. 1 router softmax, eq. 2 gated sum of
 * expert outputs, eq. 3 expert capacity, eqs. 4–6 load-balancing loss. Zoph et al. 2022 (ST-MoE):
 * eq. 5 router z-loss. Zhou et al. 2022: expert-choice routing. Riquelme et al. 2021: batch
 * prioritized routing.
 */

export type Vec = number[];
export type Mat = number[][];
export type RefRouting = 'tokens-choose' | 'batch-prioritized' | 'experts-choose';

export interface RefParams {
  router: Mat; // [dModel][E]
  wi: Mat[]; // [E][dModel][dFF]
  wo: Mat[]; // [E][dFF][dModel]
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

export function refGelu(v: number): number {
  return 0.5 * v * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (v + 0.044715 * v ** 3)));
}

/** One expert, T5 style without biases: act(x·W_i)·W_o. */
export function refFFN(x: Vec, wi: Mat, wo: Mat, activation: 'relu' | 'gelu'): Vec {
  const hidden = vecMat(x, wi).map((v) => (activation === 'relu' ? Math.max(v, 0) : refGelu(v)));
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

export function refBalanceLoss(probs: Mat[], choices: number[][][], masks: Mat): number {
  return refMeanOverGroups(probs.map((p, g) => (masks[g]!.some((m) => m !== 0) ? refGroupBalance(p, choices[g]!, masks[g]!) : null)));
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
  const choices = probs.map((group) => group.map((p) => refTopK(p, opts.topK)));
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
    for (const { token, expert, gate } of groupRoutes) {
      const y = refFFN(x[g]![token]!, params.wi[expert]!, params.wo[expert]!, opts.activation);
      y.forEach((v, i) => (out[token]![i]! += gate * v));
      if (opts.activation === 'relu') margin = Math.min(margin, ...vecMat(x[g]![token]!, params.wi[expert]!).map(Math.abs));
    }
    output.push(out);
    routes.push(groupRoutes);
    margin = Math.min(margin, routingMargin(probs[g]!, mask[g]!, opts.routing));
  }
  const balanceLoss = refBalanceLoss(probs, choices, mask);
  const zLoss = refZLoss(logits, mask);
  return { output, routes, capacity, balanceLoss, zLoss, auxLoss: opts.balanceCoef * balanceLoss + opts.zLossCoef * zLoss, margin };
}

function minGap(values: number[]): number {
  const sorted = values.slice().sort((a, b) => b - a);
  let gap = Infinity;
  for (let i = 1; i < sorted.length; i++) gap = Math.min(gap, sorted[i - 1]! - sorted[i]!);
  return gap;
}

/** The gaps whose sign decides routing: each token's ranking of experts, and the mode's ranking of tokens. */
function routingMargin(probs: Mat, mask: Vec, routing: RefRouting): number {
  const tokens = probs.filter((_, s) => mask[s] !== 0);
  let margin = Math.min(Infinity, ...tokens.map(minGap));
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
