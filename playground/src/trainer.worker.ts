import { Adam, clipGradNorm, crossEntropy, getBackend, profile, setBackend, tidy } from '@switch-ts/tensor';
import type { Batch } from '../../examples/demo/data.js';
import type { LanguageModel, SwitchTrace } from '../../examples/demo/model.js';
import { compute } from './compute.js';
import type { BackendChoice, FromWorker, ModelName, StepReport, ToWorker, TrainKnobs } from './protocol.js';
import { batchRngFor, corpusFor, modelsFor, trainShape } from './training.js';

/**
 * All of the page's tensor computation, so that the page's bundle holds none of it. A 'start'
 * trains Switch and its dense twin (training.ts) on the same batches, one step of each at a time;
 * the page starts one run per instance. A 'compute' (compute.ts: the route view's forward pass, the
 * cost table) is answered at once, or between two steps in an instance that trains. The page sends
 * those to an instance of their own that never trains, so they are answered while a step runs, on
 * the cpu backend whatever the run's backend, and nothing they do (they draw from their own seeded
 * Rngs) reaches the run.
 */

const scope = self as unknown as { postMessage(m: FromWorker): void; onmessage: ((e: MessageEvent<ToWorker>) => void) | null };
const post = (m: FromWorker): void => scope.postMessage(m);

const { model: size, batchSize } = trainShape;
/** Per step, the heatmap keeps this share of its counts: about the last 20 steps. */
const heatDecay = 0.95;

interface Run {
  name: ModelName;
  model: LanguageModel;
  optimizer: Adam;
  flops: number;
  /** Wall time of steps 2, 3, …: step 1 compiles the kernels. */
  seconds: number;
}

/** The page starts one run per worker and terminates the worker to reset. */
let paused = false;

scope.onmessage = ({ data }) => {
  if (data.type === 'pause') paused = true;
  else if (data.type === 'resume') paused = false;
  else if (data.type === 'compute') {
    try {
      post({ type: 'computed', id: data.id, result: compute(data.request) });
    } catch (e) {
      post({ type: 'computed', id: data.id, error: (e as Error).message });
    }
  } else void train(data.knobs, data.backend).catch((e: unknown) => post({ type: 'error', message: (e as Error).message }));
};

async function train(knobs: TrainKnobs, backend: BackendChoice): Promise<never> {
  // strict: a mode that cannot run here throws with the reason (modeProblem's) instead of falling back.
  if (backend === 'cpu') setBackend('cpu');
  else setBackend('gpu', { mode: backend, strict: true });
  const corpus = corpusFor(knobs);
  const models = modelsFor(knobs, corpus.vocabSize);
  const runs = (['switch', 'dense'] as const).map((name): Run => (
    { name, model: models[name], optimizer: new Adam(models[name].parameters(), { lr: knobs.lr }), flops: 0, seconds: 0 }));
  const heat = corpus.groupNames.map(() => new Array<number>(knobs.numExperts).fill(0));
  post({
    type: 'ready', backend: backendName(), groupNames: corpus.groupNames,
    params: { switch: models.switch.parameterCount(), dense: models.dense.parameterCount() },
  });
  const dataRng = batchRngFor(knobs);
  for (let step = 1; ; step++) {
    while (paused) await new Promise((r) => setTimeout(r, 50));
    const batch = corpus.batch(batchSize, size.seqLen, dataRng);
    const reports = runs.map((run) => trainStep(run, step, batch, heat));
    batch.inputs.dispose();
    batch.targets.dispose();
    post({ type: 'steps', reports, heat });
    // Lets pause and resume in between steps.
    await new Promise((r) => setTimeout(r, 0));
  }
}

function trainStep(run: Run, step: number, batch: Batch, heat: number[][]): StepReport {
  let report!: StepReport;
  const started = performance.now();
  run.flops += profile(() => tidy(() => {
    run.optimizer.zeroGrad();
    const { logits, auxLoss, traces } = run.model.forward(batch.inputs);
    const ce = crossEntropy(logits, batch.targets);
    (auxLoss ? ce.add(auxLoss) : ce).backward();
    clipGradNorm(run.model.parameters(), 1);
    run.optimizer.step();
    report = { model: run.name, step, loss: ce.item(), flops: 0, seconds: 0, tokensPerSecond: 0, ...(auxLoss && { auxLoss: auxLoss.item(), load: loadOf(traces) }) };
    if (traces.length > 0) addHeat(heat, traces, batch.groups);
  })).flops;
  const seconds = (performance.now() - started) / 1000;
  if (step > 1) run.seconds += seconds;
  const tokens = batchSize * size.seqLen;
  return { ...report, flops: run.flops, seconds, tokensPerSecond: step === 1 ? tokens / seconds : ((step - 1) * tokens) / run.seconds };
}

/** Tokens per expert summed over the switch layers, against the capacity of all of them. */
function loadOf(traces: SwitchTrace[]): StepReport['load'] {
  const sum = (f: (t: SwitchTrace) => number) => traces.reduce((a, t) => a + f(t), 0);
  return {
    tokensPerExpert: traces[0]!.stats.tokensPerExpert.map((_, e) => sum((t) => t.stats.tokensPerExpert[e]!)),
    capacity: sum((t) => t.stats.expertCapacity),
    droppedFraction: sum((t) => t.stats.droppedFraction) / traces.length,
    routerEntropy: sum((t) => t.stats.routerEntropy) / traces.length,
  };
}

/**
 * The backend that runs, as getBackend() reports it: on the gpu backend, the mode read from a
 * compiled kernel, not the one asked for.
 */
function backendName(): string {
  const b = getBackend();
  return b.mode ? `${b.name} (${b.mode})` : b.name;
}

function addHeat(heat: number[][], traces: SwitchTrace[], groups: Int32Array): void {
  for (const row of heat) row.forEach((v, e) => { row[e] = v * heatDecay; });
  for (const t of traces) groups.forEach((g, token) => { heat[g]![t.choices[token * t.topK]!]!++; });
}
