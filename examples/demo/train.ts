import { Adam, Rng, clipGradNorm, crossEntropy, noGrad, profile, tidy, type Tensor } from '@switch-ts/tensor';
import type { Batch, Corpus } from './data.js';
import { LanguageModel, type FFNConfig, type SwitchTrace } from './model.js';

export interface ModelSize {
  dModel: number;
  numHeads: number;
  numLayers: number;
  dFF: number;
  seqLen: number;
}

export interface TrainSettings {
  model: ModelSize;
  batchSize: number;
  steps: number;
  /**
   * Peak learning rate of Adam, reached after a linear warmup over the first tenth of the steps,
   * then decayed linearly towards 0 at the last step.
   */
  lr: number;
  seed: number;
  evalBatches: number;
}

/** One model to train: a name and its feed-forward (dense, or switch with its settings). */
export interface RunSpec {
  name: string;
  ffn: FFNConfig;
}

/** One row of a run's CSV: the state after `step` training steps. */
export interface HistoryRow {
  step: number;
  tokens: number;
  seconds: number;
  /** Training FLOPs so far (forward, backward and optimizer), from one profiled step. */
  flops: number;
  /** Cross-entropy of this step's batch (without the aux loss). */
  loss: number;
  auxLoss: number;
  droppedFraction: number;
  routerEntropy: number;
  /** Router choices per expert in this step, before capacity (with expert choice, the experts' picks), summed over switch layers. */
  choices: number[];
}

/** A run of one spec with one seed: its name in progress lines, files and results. */
export const runId = (name: string, seed: number): string => `${name}-s${seed}`;

export interface TrainedRun {
  spec: RunSpec;
  /** The seed of its data, initialization and batches. */
  seed: number;
  params: number;
  /** Profiled forward FLOPs per token of the whole model, and of the layers in switch positions alone. */
  flopsPerToken: number;
  switchFlopsPerToken: number;
  /**
   * switchFlopsPerToken in eval mode, at the layers' eval capacity factor (2, SwitchLayer's
   * default): padded experts compute every slot, padding-free ones the routed tokens.
   */
  evalSwitchFlopsPerToken: number;
  /** The fraction of tokens no expert processed in that eval forward: padding-free experts compute the others' rows only. */
  evalDroppedFraction: number;
  /** Held-out cross-entropy (nats) after training. */
  finalLoss: number;
  tokensPerSecond: number;
  /** Mean over the last quarter of training. */
  droppedFraction: number;
  /** Router choices per expert (before capacity; with expert choice, the experts' picks) over the last quarter of training. */
  tokensPerExpert: number[];
  /** Mean router entropy (nats) over the last quarter of training. */
  routerEntropy: number;
  wallSeconds: number;
  history: HistoryRow[];
  /** [group][expert]: top-1 router choices of each token group over the last quarter of training. */
  specialization: number[][];
  groupNames: readonly string[];
}

export interface Progress {
  step: number;
  steps: number;
  loss: number;
  tokensPerSecond: number;
  elapsedSeconds: number;
}

/** Sums each step's routed load per expert over the switch layers (k choices per token; see SwitchTrace.load). */
function choicesPerExpert(traces: SwitchTrace[], experts: number, tokens: number): number[] {
  if (traces.length === 0) return [tokens];
  const counts = new Array<number>(experts).fill(0);
  for (const t of traces) t.load.forEach((n, e) => { counts[e]! += n; });
  return counts;
}

function addSpecialization(matrix: number[][], traces: SwitchTrace[], groups: Int32Array): void {
  for (const t of traces) {
    groups.forEach((g, token) => { matrix[g]![t.choices[token * t.topK]!]!++; });
  }
}

const mean = (xs: number[]): number => xs.reduce((a, b) => a + b, 0) / Math.max(xs.length, 1);

/** The model a run trains, freshly initialized: the same for a run and for loading its checkpoint. */
export function modelFor(spec: RunSpec, corpus: Corpus, settings: TrainSettings): LanguageModel {
  return new LanguageModel({ ...settings.model, vocabSize: corpus.vocabSize, ffn: spec.ffn, seed: settings.seed });
}

/**
 * One training step, to call inside a tidy: forward, loss = cross-entropy + Σ_layers aux loss,
 * backward, gradient clipping at 1, Adam. Its own function so that the benchmark against PyTorch
 * (bench/suites/torch.ts) times exactly the step the demo trains with.
 */
export function trainStep(model: LanguageModel, optimizer: Adam, batch: Pick<Batch, 'inputs' | 'targets'>): { ce: Tensor; auxLoss: Tensor | null; traces: SwitchTrace[] } {
  optimizer.zeroGrad();
  const { logits, auxLoss, traces } = model.forward(batch.inputs);
  const ce = crossEntropy(logits, batch.targets);
  const loss = auxLoss ? ce.add(auxLoss) : ce;
  loss.backward();
  clipGradNorm(model.parameters(), 1);
  optimizer.step();
  return { ce, auxLoss, traces };
}

/**
 * Trains one model on `corpus` with Adam (linear warmup, then linear decay: the final weights are
 * not a snapshot of a still-oscillating high-lr walk, so runs compare reliably), gradient clipping at 1,
 * and loss = cross-entropy + Σ_layers aux loss. Every run of a demo sees the same batches in the
 * same order and starts from the same seed. `tick` is awaited between steps, so that the caller
 * can report progress and hear its events. Returns the results and the trained model.
 */
export async function train(
  spec: RunSpec, corpus: Corpus, settings: TrainSettings, tick: (p: Progress) => Promise<void> | void,
): Promise<{ run: TrainedRun; model: LanguageModel }> {
  const { model: size, batchSize, steps, lr, seed } = settings;
  const model = modelFor(spec, corpus, settings);
  const switches = model.switchLayers();
  // The routed experts: with fine-grained segments and shared experts, more than the spec's numExperts.
  const E = switches[0]?.layout.routedExperts ?? 1;
  const updateBias = spec.ffn.kind === 'switch' && spec.ffn.updateBias === true;
  const optimizer = new Adam(model.parameters(), { lr });
  const dataRng = new Rng(seed + 1);
  const tokensPerStep = batchSize * size.seqLen;
  const warmup = Math.max(1, Math.floor(steps / 10));
  const tail = Math.max(1, Math.floor(steps / 4));
  const specialization = corpus.groupNames.map(() => new Array<number>(E).fill(0));
  const history: HistoryRow[] = [];
  let flopsPerStep = 0, trainingSeconds = 0;

  for (let step = 1; step <= steps; step++) {
    const batch = corpus.batch(batchSize, size.seqLen, dataRng);
    optimizer.lr = lr * Math.min(step / warmup, (steps - step + 1) / (steps - warmup + 1));
    const started = performance.now();
    let row!: HistoryRow;
    const stepProfile = profile(() => tidy(() => {
      const { ce, auxLoss, traces } = trainStep(model, optimizer, batch);
      // Loss-free balancing (Wang et al. 2024, Algorithm 1): the bias moves after the step, from this step's load.
      if (updateBias) for (const layer of switches) layer.updateBias();
      if (step > steps - tail) addSpecialization(specialization, traces, batch.groups);
      const stats = traces.map((t) => t.stats);
      row = {
        step, tokens: step * tokensPerStep, seconds: 0, flops: 0, loss: ce.item(), auxLoss: auxLoss?.item() ?? 0,
        droppedFraction: mean(stats.map((s) => s.droppedFraction)), routerEntropy: mean(stats.map((s) => s.routerEntropy)),
        choices: choicesPerExpert(traces, E, tokensPerStep),
      };
    }));
    trainingSeconds += (performance.now() - started) / 1000;
    batch.inputs.dispose();
    batch.targets.dispose();
    if (step === 1) flopsPerStep = stepProfile.flops;
    row.seconds = trainingSeconds;
    row.flops = step * flopsPerStep;
    history.push(row);
    await tick({ step, steps, loss: row.loss, tokensPerSecond: row.tokens / trainingSeconds, elapsedSeconds: trainingSeconds });
  }

  const evaluation = evaluate(model, corpus, settings);
  const last = history.slice(-tail);
  const run: TrainedRun = {
    spec, seed, params: model.parameterCount(), ...evaluation,
    tokensPerSecond: (steps * tokensPerStep) / trainingSeconds,
    droppedFraction: mean(last.map((r) => r.droppedFraction)),
    routerEntropy: mean(last.map((r) => r.routerEntropy)),
    tokensPerExpert: last.reduce((sum, r) => sum.map((n, e) => n + r.choices[e]!), new Array<number>(E).fill(0)),
    wallSeconds: trainingSeconds, history, specialization, groupNames: corpus.groupNames,
  };
  return { run, model };
}

/**
 * Held-out cross-entropy over fixed batches (the same for every run), in training mode so that
 * each model is measured at the capacity factor it trained with, and the profiled forward FLOPs
 * per token of the whole model and of the layers in switch positions alone; then the latter once
 * more in eval mode on the first batch, at the eval capacity factor of 2, where padded experts
 * compute 2× the slots of top-1's tokens and padding-free ones the tokens alone (MegaBlocks).
 */
function evaluate(model: LanguageModel, corpus: Corpus, settings: TrainSettings): Pick<TrainedRun, 'finalLoss' | 'flopsPerToken' | 'switchFlopsPerToken' | 'evalSwitchFlopsPerToken' | 'evalDroppedFraction'> {
  const rng = new Rng(settings.seed + 2);
  const losses: number[] = [];
  let flops = 0, switchFlops = 0, tokens = 0;
  noGrad(() => {
    for (let i = 0; i < settings.evalBatches; i++) {
      const batch = corpus.batch(settings.batchSize, settings.model.seqLen, rng, true);
      tidy(() => {
        let out!: ReturnType<LanguageModel['forward']>;
        flops += profile(() => { out = model.forward(batch.inputs); }).flops;
        switchFlops += out.switchFlops;
        tokens += batch.groups.length;
        losses.push(crossEntropy(out.logits, batch.targets).item());
      });
      batch.inputs.dispose();
      batch.targets.dispose();
    }
  });
  // After the held-out loss, so that it stays as it was; eval mode draws nothing from the layers' rng (no jitter, no dropout).
  const first = corpus.batch(settings.batchSize, settings.model.seqLen, new Rng(settings.seed + 2), true);
  model.eval();
  const [evalSwitchFlops, evalDroppedFraction] = noGrad(() => tidy(() => {
    const out = model.forward(first.inputs);
    return [out.switchFlops, mean(out.traces.map((t) => t.stats.droppedFraction))];
  }));
  model.train();
  first.inputs.dispose();
  first.targets.dispose();
  return {
    finalLoss: mean(losses), flopsPerToken: flops / tokens, switchFlopsPerToken: switchFlops / tokens,
    evalSwitchFlopsPerToken: evalSwitchFlops! / first.groups.length, evalDroppedFraction: evalDroppedFraction!,
  };
}
