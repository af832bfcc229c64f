/**
 * Reference math for the routing methods after Switch, one plain float64 loop per paper, written
 * from its equations. Like switch.ts it imports nothing from the library; it reuses only switch.ts's
 * one-token helpers (softmax, top-k, one FFN).
 *
 * Zhou et al. 2022 (Mixture-of-Experts with Expert Choice Routing), §3.2: S = Softmax(X·W_g),
 * G, I = TopK(Sᵀ, k) with k = n·c / e, X_out[i] = Σ_j G[j, i]·FFN_j(X[i]).
 * Dai et al. 2024 (DeepSeekMoE), eqs. 9–11: shared experts plus fine-grained routed experts.
 * Wang et al. 2024 (Auxiliary-Loss-Free Load Balancing), Algorithm 1: b_i += u·sign(c̄ − c_i).
 * Gale et al. 2023 (MegaBlocks): the FLOPs of padded against padding-free expert computation.
 */
import { refFFN, refLogits, refSoftmax, refTopK, type Mat, type Vec } from './switch.js';

/**
 * Expert choice on one group of n tokens (Zhou et al. 2022 §3.2): each of the e experts takes the
 * k = min(n, ⌈n·c/e⌉) tokens with the highest score S[i, j] (ties to the earlier token), and a
 * token's output is Σ over the experts that took it of S[i, j]·FFN_j(x_i).
 */
export function refExpertChoice(x: Mat, router: Mat, wi: Mat[], wo: Mat[], c: number, activation: 'relu' | 'gelu'): { output: Mat; taken: number[][] } {
  const n = x.length, e = router[0]!.length;
  const S = x.map((token) => refSoftmax(refLogits(token, router)));
  const k = Math.min(n, Math.ceil((n * c) / e));
  const output = x.map((token) => token.map(() => 0));
  const taken: number[][] = [];
  for (let j = 0; j < e; j++) {
    const column = S.map((row) => row[j]!);
    const I = refTopK(column, k); // TopK(Sᵀ, k): the row of expert j
    taken.push(I);
    for (const i of I) refFFN(x[i]!, wi[j]!, wo[j]!, activation).forEach((v, d) => (output[i]![d]! += S[i]![j]! * v));
  }
  return { output, taken };
}

/**
 * DeepSeekMoE (Dai et al. 2024) eqs. 9–11 for one token, dropless:
 * h = Σ_{i=1}^{K_s} FFN_i(u) + Σ_{i=K_s+1}^{mN} g_i·FFN_i(u),
 * g_i = s_i if s_i ∈ TopK({s_j}, mK − K_s) else 0, s_i = Softmax_i(uᵀe_i) over the routed experts.
 * With `normalize` the chosen gates are divided by their sum (the library's normalizeTopK).
 */
export function refDeepSeekMoE(
  u: Vec, p: { router: Mat; wi: Mat[]; wo: Mat[]; sharedWi: Mat[]; sharedWo: Mat[] }, routedTopK: number,
  activation: 'relu' | 'gelu', normalize: boolean,
): Vec {
  const h = u.map(() => 0);
  p.sharedWi.forEach((wi, i) => refFFN(u, wi, p.sharedWo[i]!, activation).forEach((v, d) => (h[d]! += v)));
  const s = refSoftmax(refLogits(u, p.router));
  const chosen = refTopK(s, routedTopK);
  const total = normalize && routedTopK > 1 ? chosen.reduce((sum, i) => sum + s[i]!, 0) : 1;
  for (const i of chosen) refFFN(u, p.wi[i]!, p.wo[i]!, activation).forEach((v, d) => (h[d]! += (s[i]! / total) * v));
  return h;
}

/** c_i of Wang et al. 2024: how many unmasked tokens' choices went to expert i, over all groups. */
export function refLoad(choices: number[][][], masks: Mat, E: number): number[] {
  const load = new Array<number>(E).fill(0);
  choices.forEach((group, g) => group.forEach((chosen, s) => {
    if (masks[g]![s] !== 0) for (const e of chosen) load[e]! += 1;
  }));
  return load;
}

/** Algorithm 1 of Wang et al. 2024: e_i = c̄ − c_i, b_i ← b_i + u·sign(e_i). */
export function refBiasUpdate(b: Vec, load: number[], u: number): Vec {
  const mean = load.reduce((a, v) => a + v, 0) / load.length;
  return b.map((bi, i) => {
    const err = mean - load[i]!;
    return bi + u * (err > 0 ? 1 : err < 0 ? -1 : 0);
  });
}

/**
 * Matmul FLOPs of the experts step (2 per multiply-add, two matmuls per FFN row):
 * padded, every one of the E·G·C slots is computed (the Switch layout); padding-free (MegaBlocks),
 * only the routed rows.
 */
export function refExpertFlops(rows: number, dModel: number, dFF: number): number {
  return rows * 2 * (2 * dModel * dFF);
}
