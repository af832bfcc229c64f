import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { DataSpec } from './cli.js';
import { syntheticCorpus, textCorpus, type Corpus } from './data.js';
import { saveRun, type RunFolder } from './store.js';
import { train, type Progress, type RunSpec, type TrainSettings, type TrainedRun } from './train.js';

export function corpusOf(data: DataSpec, settings: TrainSettings): Corpus {
  return data.kind === 'text'
    ? textCorpus(data.text, data.name, settings.model.seqLen)
    : syntheticCorpus({ languages: 16, words: 64, noise: 0.05, seed: settings.seed });
}

/** A run to train, and the folder it is kept in once finished. */
export interface Job {
  spec: RunSpec;
  folder: RunFolder;
}

export interface RunEvents {
  progress(name: string, p: Progress): void;
  /** A run finished; it is already on disk. */
  done(run: TrainedRun): void;
}

/** Waits for the event loop's next turn: between steps, progress is drawn and events are heard. */
export const nextTurn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/** Trains a run and keeps it in its folder before anyone hears that it finished. */
export async function trainAndKeep(job: Job, corpus: Corpus, settings: TrainSettings, tick: (p: Progress) => Promise<void>): Promise<TrainedRun> {
  const { run, model } = await train(job.spec, corpus, settings, tick);
  saveRun(job.folder, run, model);
  return run;
}

/** Trains the runs one after another in this process. */
export async function runInProcess(jobs: Job[], data: DataSpec, settings: TrainSettings, events: RunEvents): Promise<void> {
  const corpus = corpusOf(data, settings);
  for (const job of jobs) {
    events.done(await trainAndKeep(job, corpus, settings, async (p) => {
      events.progress(job.spec.name, p);
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
      const child = fork(workerPath, [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
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
