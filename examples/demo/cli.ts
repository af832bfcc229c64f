import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { defaultExperimentIds, experimentIds, type ExperimentId } from './experiments.js';
import type { TrainSettings } from './train.js';

export const usage = `Usage: pnpm demo [options]

Trains small dense and Switch Transformer language models on a CPU and writes a report that
checks the Switch Transformer's claims (see docs/guide.md).

Options:
  --quick              a smoke run of one seed and few steps, under a minute: it checks the plumbing, not the claims
  --out DIR            where to write index.html, results.json and runs/*.csv (default reports/latest)
  --seed N             first seed of the data, the initialization and the batches (default 0)
  --seeds N            seeds per run, N, N+1, …: each claim is judged over all of them (default 3, or 1 with --quick)
  --steps N            training steps per run (default 80, or 10 with --quick)
  --experiments a,b    any of ${experimentIds.join(', ')} (default: all but routing,
                       the routing study of docs/guide.md §7: 8 runs per seed, about 4½ minutes)
  --text FILE          train on your own UTF-8 text, character by character
  --jobs N             runs trained at once, in separate processes (default 2)
  --resume             reuse the runs already finished in --out with the same settings, train the rest
  --help               this text

Each run is kept in OUT/runs/NAME/ (run.json, model.safetensors) as it finishes, and the report is
rewritten after each run: a demo stopped at any moment loses only the runs in flight.`;

/** The data every run trains on: the built-in synthetic language or the user's text. */
export type DataSpec = { kind: 'synthetic' } | { kind: 'text'; name: string; text: string };

export interface Options {
  out: string;
  experiments: ExperimentId[];
  settings: TrainSettings;
  data: DataSpec;
  jobs: number;
  /** The seeds each run is trained with. */
  seeds: number[];
  quick: boolean;
  /** Reuse the runs that `out` holds, finished with the same configuration. */
  resume: boolean;
}

/** A mistake in the command line: main prints its message on one line and exits with code 2. */
export class UsageError extends Error {}

/** Where the user typed the command: pnpm runs a package's script in the package's folder but keeps the caller's in INIT_CWD. */
const userPath = (p: string): string => resolve(process.env.INIT_CWD ?? process.cwd(), p);
const defaultOut = fileURLToPath(new URL('../../reports/latest', import.meta.url));

/** The demo's model size; bench/suites/torch.ts times a training step of it against PyTorch. */
export const demoModel = { dModel: 128, numHeads: 4, numLayers: 2, dFF: 512, seqLen: 32 };

function integer(flag: string, value: string | undefined, fallback: number, min: number, max: number): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isInteger(n) || n < min || n > max) throw new UsageError(`--${flag} must be an integer from ${min} to ${max}, got '${value}'`);
  return n;
}

/** Control characters other than whitespace: text has next to none, binary data many. */
const controlCharacter = /[\0-\x08\x0e-\x1f\x7f-\x9f]/gu;
/** More than this share of control characters, and a UTF-8 file is not text. */
const maxControlShare = 0.1;

function readText(file: string): DataSpec {
  let bytes: Buffer;
  try {
    bytes = readFileSync(userPath(file));
  } catch (e) {
    throw new UsageError(`--text: cannot read ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    throw new UsageError(`--text: ${file} is not UTF-8 text (a binary file?)`);
  }
  if (text.trim() === '') throw new UsageError(`--text: ${file} is empty`);
  const share = (text.match(controlCharacter)?.length ?? 0) / [...text].length;
  if (share > maxControlShare) {
    throw new UsageError(`--text: ${file} does not look like text: ${Math.round(100 * share)}% of its characters are control characters`);
  }
  return { kind: 'text', name: file, text };
}

const flags = {
  quick: { type: 'boolean' }, help: { type: 'boolean', short: 'h' }, out: { type: 'string' }, seed: { type: 'string' },
  steps: { type: 'string' }, experiments: { type: 'string' }, text: { type: 'string' }, jobs: { type: 'string' },
  resume: { type: 'boolean' }, seeds: { type: 'string' },
} as const;

const isFlag = (arg: string): boolean => {
  const name = /^--([^=]+)/.exec(arg)?.[1];
  return name !== undefined ? name in flags : Object.values(flags).some((f) => 'short' in f && arg === `-${f.short}`);
};

/**
 * Joins a flag that takes a value to a following argument that starts with a dash but is no flag
 * (`--steps -3` → `--steps=-3`), which parseArgs would call ambiguous; the value's own check then
 * says what is wrong with it.
 */
function attachDashedValues(argv: string[]): string[] {
  const args: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!, next = argv[i + 1];
    const takesValue = arg.startsWith('--') && flags[arg.slice(2) as keyof typeof flags]?.type === 'string';
    if (takesValue && next !== undefined && next.startsWith('-') && !isFlag(next)) args.push(`${arg}=${argv[++i]}`);
    else args.push(arg);
  }
  return args;
}

/** Parses argv (without node and the script); returns null for --help. */
export function parseOptions(argv: string[]): Options | null {
  let values;
  try {
    ({ values } = parseArgs({ args: attachDashedValues(argv), allowPositionals: false, strict: true, options: flags }));
  } catch (e) {
    // One line, hint included: main prints usage errors on one line.
    throw new UsageError((e as Error).message.replace(/\n/g, ' '));
  }
  if (values.help) return null;
  const quick = values.quick ?? false;
  const chosen = values.experiments === undefined ? [...defaultExperimentIds] : values.experiments.split(',').map((s) => s.trim());
  const unknown = chosen.filter((id) => !(experimentIds as readonly string[]).includes(id));
  if (unknown.length > 0 || chosen.length === 0) throw new UsageError(`--experiments: unknown '${unknown.join(',')}'; choose from ${experimentIds.join(', ')}`);
  if (values.out === '') throw new UsageError('--out: needs a directory');
  const settings: TrainSettings = {
    model: demoModel,
    batchSize: quick ? 8 : 16,
    steps: integer('steps', values.steps, quick ? 10 : 80, 1, 1_000_000),
    lr: 0.02,
    seed: integer('seed', values.seed, 0, 0, 2 ** 31 - 1),
    evalBatches: quick ? 2 : 32,
  };
  return {
    out: values.out === undefined ? defaultOut : userPath(values.out),
    experiments: experimentIds.filter((id) => chosen.includes(id)),
    settings,
    data: values.text === undefined ? { kind: 'synthetic' } : readText(values.text),
    jobs: integer('jobs', values.jobs, 2, 1, 16),
    seeds: Array.from({ length: integer('seeds', values.seeds, quick ? 1 : 3, 1, 32) }, (_, i) => settings.seed + i),
    quick,
    resume: values.resume ?? false,
  };
}
