/** A training process of runner.ts: receives the data and settings, then one run at a time, and keeps each run it finishes. */
import type { DataSpec } from './cli.js';
import type { Corpus } from './data.js';
import { corpusCache, nextTurn, trainAndKeep, warmUp, type Job, type WorkerMessage } from './runner.js';
import { runId, type TrainSettings } from './train.js';

let corpus: (seed: number) => Corpus;
let settings: TrainSettings;
let lastReport = 0;
/** The process's warm-up, run once before its first job. */
let warm: Promise<void> | null = null;

// The parent is gone (it finished, or was killed): nobody wants the run in flight.
process.on('disconnect', () => process.exit());
/** Tells the parent, unless it is gone: a send that fails means it died before 'disconnect' was heard. */
const tell = (message: WorkerMessage): void => {
  if (process.connected) process.send!(message, (e: Error | null) => e && process.exit());
};
process.on('message', (m: { init?: { data: DataSpec; settings: TrainSettings }; job?: Job }) => {
  if (m.init) {
    settings = m.init.settings;
    corpus = corpusCache(m.init.data, settings);
    return;
  }
  const job = m.job!;
  const name = runId(job.spec.name, job.seed);
  warm ??= warmUp(corpus(job.seed), settings);
  warm.then(() => trainAndKeep(job, corpus(job.seed), settings, async (progress) => {
    // Progress at most 10 times a second: the parent redraws on each message.
    const now = performance.now();
    if (now - lastReport > 100 || progress.step === progress.steps) {
      lastReport = now;
      tell({ type: 'progress', name, progress });
    }
    await nextTurn();
  })).then(
    (run) => tell({ type: 'done', run }),
    (e: Error) => tell({ type: 'error', message: `${name}: ${e.message}` }),
  );
});
