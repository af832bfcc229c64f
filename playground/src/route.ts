import type { RoutingMode } from '@switch-ts/switch';

/*
 * The route view's knobs and results, shared by the page and the worker (compute.ts computes
 * them). Type imports only: the page's bundle holds no tensor code.
 */

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
/** SwitchLayer's routing modes, as the switch package lists them (`routingModes`; the browser test checks that the lists agree). */
export const routingModes = ['tokens-choose', 'batch-prioritized', 'experts-choose'] as const satisfies readonly RoutingMode[];

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
