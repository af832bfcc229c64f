import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { DataSpec } from './cli.js';
import { syntheticCorpus, textCorpus, type Corpus } from './data.js';
import { saveRun, type RunFolder } from './store.js';
import { runId, train, type Progress, type RunSpec, type TrainSettings, type TrainedRun } from './train.js';

/** The corpus of a seed: the synthetic language is drawn from the seed too, so seeds sample the data as well. */
export function corpusOf(data: DataSpec, settings: TrainSettings): Corpus {
  return data.kind === 'text'
    ? textCorpus(data.text, data.name, settings.model.seqLen)
    : syntheticCorpus({ languages: 16, words: 64, noise: 0.05, seed: settings.seed });
}

/** A run to train (a spec with a seed), and the folder it is kept in once finished. */
export interface Job {
  spec: RunSpec;
  seed: number;
  folder: RunFolder;
}

/** Each seed's corpus, built once per process. */
export function corpusCache(data: DataSpec, settings: TrainSettings): (seed: number) => Corpus {
  const corpora = new Map<number, Corpus>();
  return (seed) => {
    if (!corpora.has(seed)) corpora.set(seed, corpusOf(data, { ...settings, seed }));
    return corpora.get(seed)!;
  };
}

export interface RunEvents {
  progress(name: string, p: Progress): void;
  /** A run finished; it is already on disk. */
  done(run: TrainedRun): void;
}

/** Waits for the event loop's next turn: between steps, progress is drawn and events are heard. */
export const nextTurn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/** Trains a run with its seed and keeps it in its folder before anyone hears that it finished. */
export async function trainAndKeep(job: Job, corpus: Corpus, settings: TrainSettings, tick: (p: Progress) => Promise<void>): Promise<TrainedRun> {
  const { run, model } = await train(job.spec, corpus, { ...settings, seed: job.seed }, tick);
  saveRun(job.folder, run, model);
  return run;
}

/**
 * A few throwaway steps of a small Switch model, before a process's first run: V8 compiles the
 * kernels, and WebAssembly its matmul, during the first steps it sees, and the wall-time claims
 * must not charge that to whichever run happens to come first.
 */
export async function warmUp(corpus: Corpus, settings: TrainSettings): Promise<void> {
  const spec: RunSpec = { name: 'warm-up', ffn: { kind: 'switch', numExperts: 2, topK: 2, capacityFactor: 1, balanceCoef: 0.01 } };
  await train(spec, corpus, { ...settings, steps: 3, evalBatches: 1 }, () => {});
}

/** Trains the runs one after another in this process. */
export async function runInProcess(jobs: Job[], data: DataSpec, settings: TrainSettings, events: RunEvents): Promise<void> {
  const corpus = corpusCache(data, settings);
  if (jobs.length > 0) await warmUp(corpus(jobs[0]!.seed), settings);
  for (const job of jobs) {
    events.done(await trainAndKeep(job, corpus(job.seed), settings, async (p) => {
      events.progress(runId(job.spec.name, job.seed), p);
      await nextTurn();
    }));
  }
}

/** What a training process tells its parent. */
export type WorkerMessage = { type: 'progress'; name: string; progress: Progress } | { type: 'done'; run: TrainedRun } | { type: 'error'; message: string };

/**
 * Trains the runs on `jobs` child processes (one run at a time each, taken from a shared queue):
 * runs are independent, and a 2-core machine trains two at once. Children inherit this process's
 * Node flags (tsx's loader, --conditions=development), keep each run they finish, and end when this
 * process does. Resolves when all are done.
 */
export function runInWorkers(jobs: Job[], data: DataSpec, settings: TrainSettings, events: RunEvents, processes: number): Promise<void> {
  const queue = jobs.slice();
  const children: ChildProcess[] = [];
  let failed = false;
  const workerPath = fileURLToPath(new URL('./worker.ts', import.meta.url));
  return new Promise<void>((resolve, reject) => {
    let open = Math.min(processes, queue.length);
    if (open === 0) return resolve();
    const fail = (error: Error): void => {
      failed = true;
      children.forEach((c) => c.kill());
      reject(error);
    };
    const next = (child: ChildProcess): void => {
      const job = queue.shift();
      if (job) return void child.send({ job });
      child.disconnect();
    };
    for (let i = 0; i < open; i++) {
      // 'advanced' (structured clone): JSON would turn the dropless run's capacity factor Infinity into null.
      const child = fork(workerPath, [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'], serialization: 'advanced' });
      children.push(child);
      child.on('message', (m: WorkerMessage) => {
        if (m.type === 'progress') events.progress(m.name, m.progress);
        else if (m.type === 'done') { events.done(m.run); next(child); }
        else fail(new Error(m.message));
      });
      child.on('exit', (code, signal) => {
        if (failed) return;
        if (code !== 0 || signal) return fail(new Error(`a training process exited with ${signal ?? `code ${code}`}`));
        if (--open === 0) resolve();
      });
      child.send({ init: { data, settings } });
      next(child);
    }
  });
}
