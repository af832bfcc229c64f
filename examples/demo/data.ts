import { Rng, tensor, type Tensor } from '@switch-ts/tensor';

/**
 * A training corpus: batches of token windows, and a `group` per token so that the report can
 * ask which expert each kind of token goes to (experiment 5).
 */
export interface Corpus {
  readonly description: string;
  readonly vocabSize: number;
  /** Names of the token groups: sub-languages for the synthetic data, character classes for text. */
  readonly groupNames: readonly string[];
  /**
   * `batchSize` windows of `seqLen + 1` tokens: inputs are the first seqLen, targets the last.
   * `heldOut` draws from data kept out of training (the text's last tenth; the synthetic language
   * is generated afresh either way).
   */
  batch(batchSize: number, seqLen: number, rng: Rng, heldOut?: boolean): Batch;
}

export interface Batch {
  /** int32 [B, S] */
  inputs: Tensor;
  /** int32 [B·S], the next token of each input position. */
  targets: Tensor;
  /** The group of each input token, [B·S]. */
  groups: Int32Array;
}

function makeBatch(windows: number[][], groupOf: (window: number[], position: number) => number): Batch {
  const seqLen = windows[0]!.length - 1;
  const inputs = windows.map((w) => w.slice(0, seqLen));
  const targets = windows.flatMap((w) => w.slice(1));
  const groups = Int32Array.from(windows.flatMap((w) => Array.from({ length: seqLen }, (_, s) => groupOf(w, s))));
  return { inputs: tensor(inputs, { dtype: 'int32' }), targets: tensor(targets, { dtype: 'int32' }), groups };
}

/** A uniformly random permutation of 0…n−1 (Fisher–Yates). */
function permutation(n: number, rng: Rng): number[] {
  const p = Array.from({ length: n }, (_, i) => i);
  for (let i = n - 1; i > 0; i--) {
    const j = rng.int(i + 1);
    [p[i], p[j]] = [p[j]!, p[i]!];
  }
  return p;
}

export interface SyntheticOptions {
  languages: number;
  words: number;
  /** Probability that a word is drawn uniformly instead of from its language's table. */
  noise: number;
  seed: number;
}

/**
 * A synthetic language that rewards memorization. There are `languages` sub-languages over one
 * shared set of `words`; a sequence starts with its language's task token, then each word
 * follows from the previous one by that language's own next-word table, except with probability
 * `noise`. The tables are permutations, not arbitrary maps: a random map sends a chain into a
 * short cycle within a few words, so a model could copy the repeating cycle from its context and
 * would only ever see the few entries on the cycles; a permutation keeps every word equally
 * likely at every position. Predicting well means storing all languages × words entries, so
 * at equal compute a model with more parameters (more experts) can learn more of them, and
 * experts can specialize by sub-language. Token ids: words are 0…words−1, task tokens after them.
 */
export function syntheticCorpus(opts: SyntheticOptions): Corpus & { tables: number[][] } {
  const { languages, words, noise, seed } = opts;
  const tableRng = new Rng(seed);
  const tables = Array.from({ length: languages }, () => permutation(words, tableRng));
  const sequence = (language: number, length: number, rng: Rng): number[] => {
    const out = [words + language, rng.int(words)];
    while (out.length < length) {
      const prev = out[out.length - 1]!;
      out.push(rng.next() < noise ? rng.int(words) : tables[language]![prev]!);
    }
    return out;
  };
  return {
    description: `synthetic: ${languages} sub-languages × ${words} words, next-word tables, noise ${noise}`,
    vocabSize: words + languages,
    groupNames: Array.from({ length: languages }, (_, i) => `lang ${i}`),
    tables,
    batch(batchSize, seqLen, rng) {
      const windows = Array.from({ length: batchSize }, () => sequence(rng.int(languages), seqLen + 1, rng));
      return makeBatch(windows, (w) => w[0]! - words);
    },
  };
}

const charClasses = ['lowercase', 'uppercase', 'digit', 'space', 'punctuation', 'other'] as const;

function charClass(ch: string): number {
  if (/\p{Ll}/u.test(ch)) return 0;
  if (/\p{Lu}/u.test(ch)) return 1;
  if (/\p{N}/u.test(ch)) return 2;
  if (/\s/u.test(ch)) return 3;
  if (/\p{P}/u.test(ch)) return 4;
  return 5;
}

/** The user's own text at character level (code points); tokens are grouped by character class. */
export function textCorpus(text: string, name: string, seqLen: number): Corpus & { alphabet: string[] } {
  const chars = [...text];
  const minLength = 20 * (seqLen + 1);
  if (chars.length < minLength) throw new Error(`${name}: the text has ${chars.length} characters; at least ${minLength} are needed`);
  const alphabet = [...new Set(chars)].sort();
  const id = new Map(alphabet.map((c, i) => [c, i]));
  const ids = chars.map((c) => id.get(c)!);
  const classOf = alphabet.map(charClass);
  return {
    description: `text: ${name}, ${chars.length} characters, ${alphabet.length} distinct`,
    vocabSize: alphabet.length,
    groupNames: charClasses,
    alphabet,
    batch(batchSize, seqLen, rng, heldOut = false) {
      const split = Math.floor(0.9 * ids.length);
      const [from, to] = heldOut ? [split, ids.length] : [0, split];
      const windows = Array.from({ length: batchSize }, () => {
        const start = from + rng.int(to - from - seqLen);
        return ids.slice(start, start + seqLen + 1);
      });
      return makeBatch(windows, (w, s) => classOf[w[s]!]!);
    },
  };
}
