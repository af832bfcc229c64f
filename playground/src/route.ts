import { SwitchLayer, routingModes, type RoutingMode } from '@switch-ts/switch';
import { Embedding, Rng, randn, tensor, tidy, type Tensor } from '@switch-ts/tensor';

/** The knobs of the step-by-step view; the browser tests build the same layer from them. */
export interface RouteKnobs {
  numExperts: number;
  topK: number;
  capacityFactor: number;
  routing: RoutingMode;
  seed: number;
  /** The learner's text, one token per character; empty: `routeShape.tokens` random vectors. */
  text: string;
}

export const routeDefaults: RouteKnobs = { numExperts: 4, topK: 1, capacityFactor: 1.25, routing: 'tokens-choose', seed: 1, text: '' };
/** A batch small enough to draw every token: one group of S tokens of width dModel. */
export const routeShape = { tokens: 12, maxTextTokens: 24, dModel: 8, dFF: 16 } as const;
export { routingModes };

/**
 * The typed text's vocabulary, character-level like `pnpm demo --text` but fixed, so that a
 * character's id does not depend on the rest of the text: the 95 printable ASCII characters, space
 * to '~', are tokens 0…94 (code point − 32); any other character is token 95.
 */
export const textVocab = { size: 96, unknown: 95, first: 32, last: 126 } as const;

export function tokenize(text: string): number[] {
  const chars = [...text];
  if (chars.length > routeShape.maxTextTokens) throw new Error(`text: at most ${routeShape.maxTextTokens} characters (one token each), got ${chars.length}`);
  return chars.map((c) => {
    const code = c.codePointAt(0)!;
    return code >= textVocab.first && code <= textVocab.last ? code - textVocab.first : textVocab.unknown;
  });
}

/** Everything the view draws, as plain numbers, for one forward pass of a SwitchLayer. */
export interface RouteResult {
  /** h(x) = x·W_r and p(x) = softmax(h), [S][E]. */
  logits: number[][];
  probs: number[][];
  /** Each token's k choices before capacity, highest probability first. */
  choices: number[][];
  capacity: number;
  /** The token in each slot of each expert (null: empty), [E][C]. */
  slots: (number | null)[][];
  /** Each token's kept routes: expert and gate. */
  kept: { expert: number; gate: number }[][];
  /** Tokens no expert took (their output is zero). */
  dropped: number[];
  /** ‖y_s‖ of the layer's output per token. */
  outputNorms: number[];
  balanceLoss: number;
  zLoss: number;
  auxLoss: number;
  routerEntropy: number;
}

export function layerFor(k: RouteKnobs): SwitchLayer {
  const { dModel, dFF } = routeShape;
  return new SwitchLayer({
    dModel, dFF, numExperts: k.numExperts, topK: k.topK, capacityFactor: k.capacityFactor, routing: k.routing, seed: k.seed,
  });
}

/**
 * The batch [1, S, dModel]: random vectors, or each character's row of an embedding table drawn
 * with the seed. The router sees only that row, so equal characters get equal routes, up to capacity.
 */
export function inputFor(k: RouteKnobs): Tensor {
  const rng = new Rng(k.seed + 1);
  if (k.text === '') return randn([1, routeShape.tokens, routeShape.dModel], rng);
  const embedding = new Embedding(textVocab.size, routeShape.dModel, { rng });
  return embedding.forward(tensor([tokenize(k.text)], { dtype: 'int32' }));
}

const rows = (data: ArrayLike<number>, width: number): number[][] =>
  Array.from({ length: data.length / width }, (_, i) => Array.from(data).slice(i * width, (i + 1) * width));

export function computeRoute(k: RouteKnobs): RouteResult {
  return tidy(() => {
    const layer = layerFor(k);
    const x = inputFor(k);
    const { output, auxLoss, routing, stats } = layer.forward(x);
    // The layer returns neither logits nor gates; its router is deterministic without jitter, so ask it again.
    const router = layer.router.forward(x, { topK: k.topK });
    const E = k.numExperts, S = x.shape[1]!;
    const a = routing.assignment;
    const gates = (a.gateSource === 'gates' ? router.gates : routing.probs).dataSync();
    const slots = Array.from({ length: E }, () => new Array<number | null>(a.capacity).fill(null));
    const kept = Array.from({ length: S }, () => [] as { expert: number; gate: number }[]);
    a.token.forEach((token, i) => {
      const expert = Math.floor(a.slot[i]! / a.capacity);
      slots[expert]![a.slot[i]! % a.capacity] = token;
      kept[token]!.push({ expert, gate: gates[a.gate[i]!]! });
    });
    return {
      logits: rows(router.logits.dataSync(), E),
      probs: rows(routing.probs.dataSync(), E),
      choices: rows(routing.expertIndex.dataSync(), k.topK),
      capacity: a.capacity,
      slots,
      kept,
      dropped: kept.flatMap((routes, s) => (routes.length === 0 ? [s] : [])),
      outputNorms: rows(output.dataSync(), routeShape.dModel).map((r) => Math.hypot(...r)),
      balanceLoss: stats.balanceLoss,
      zLoss: stats.zLoss,
      auxLoss: auxLoss.item(),
      routerEntropy: stats.routerEntropy,
    };
  });
}
