import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { DataSpec } from './cli.js';
import { syntheticCorpus, textCorpus, type Corpus } from './data.js';
import { train, type Progress, type RunSpec, type TrainSettings, type TrainedRun } from './train.js';

export function corpusOf(data: DataSpec, settings: TrainSettings): Corpus {
  return data.kind === 'text'
    ? textCorpus(data.text, data.name, settings.model.seqLen)
    : syntheticCorpus({ languages: 16, words: 64, noise: 0.05, seed: settings.seed });
}

export interface RunEvents {
  progress(name: string, p: Progress): void;
  done(run: TrainedRun): void;
}

/** Set by Ctrl-C: in-process training stops at its next step, workers are killed. */
export class Interrupted extends Error {}

/** Trains the runs one after another in this process, yielding to the event loop between steps. */
export async function runInProcess(specs: RunSpec[], data: DataSpec, settings: TrainSettings, events: RunEvents, stopped: () => boolean): Promise<void> {
  const corpus = corpusOf(data, settings);
  for (const spec of specs) {
    const run = await train(spec, corpus, settings, async (p) => {
      events.progress(spec.name, p);
      await new Promise((resolve) => setImmediate(resolve));
      if (stopped()) throw new Interrupted();
    });
    events.done(run);
  }
}

type WorkerMessage = { type: 'progress'; name: string; progress: Progress } | { type: 'done'; run: TrainedRun } | { type: 'error'; message: string };

/**
 * Trains the runs on `jobs` child processes (one run at a time each, taken from a shared queue):
 * runs are independent, and a 2-core machine trains two at once. Children inherit this process's
 * Node flags (tsx's loader, --conditions=development). Resolves when all are done; `stop` kills them.
 */
export function runInWorkers(specs: RunSpec[], data: DataSpec, settings: TrainSettings, events: RunEvents, jobs: number): { finished: Promise<void>; stop: () => void } {
  const queue = specs.slice();
  const children: ChildProcess[] = [];
  let stopping = false;
  const workerPath = fileURLToPath(new URL('./worker.ts', import.meta.url));
  const finished = new Promise<void>((resolve, reject) => {
    let open = Math.min(jobs, queue.length);
    if (open === 0) return resolve();
    const next = (child: ChildProcess): void => {
      const spec = queue.shift();
      if (spec) return void child.send({ spec });
      child.disconnect();
    };
    for (let i = 0; i < open; i++) {
      const child = fork(workerPath, [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
      children.push(child);
      child.on('message', (m: WorkerMessage) => {
        if (m.type === 'progress') events.progress(m.name, m.progress);
        else if (m.type === 'done') { events.done(m.run); next(child); }
        else { stopping = true; children.forEach((c) => c.kill()); reject(new Error(m.message)); }
      });
      child.on('exit', (code, signal) => {
        if (!stopping && (code !== 0 || signal)) {
          stopping = true;
          children.forEach((c) => c.kill());
          return reject(new Error(`a training process exited with ${signal ?? `code ${code}`}`));
        }
        if (--open === 0) resolve();
      });
      child.send({ init: { data, settings } });
      next(child);
    }
  });
  return { finished, stop: () => { stopping = true; children.forEach((c) => c.kill()); } };
}
