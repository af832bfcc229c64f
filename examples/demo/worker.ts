/** A training process of runner.ts: receives the data and settings, then one run at a time, and keeps each run it finishes. */
import type { DataSpec } from './cli.js';
import type { Corpus } from './data.js';
import { corpusOf, nextTurn, trainAndKeep, type Job } from './runner.js';
import type { TrainSettings } from './train.js';

let corpus: Corpus | null = null;
let settings: TrainSettings;
let lastReport = 0;

// The parent is gone (it finished, or was killed): nobody wants the run in flight.
process.on('disconnect', () => process.exit());
process.on('message', (m: { init?: { data: DataSpec; settings: TrainSettings }; job?: Job }) => {
  if (m.init) {
    settings = m.init.settings;
    corpus = corpusOf(m.init.data, settings);
    return;
  }
  const job = m.job!;
  trainAndKeep(job, corpus!, settings, async (progress) => {
    // Progress at most 10 times a second: the parent redraws on each message.
    const now = performance.now();
    if (now - lastReport > 100 || progress.step === progress.steps) {
      lastReport = now;
      process.send!({ type: 'progress', name: job.spec.name, progress });
    }
    await nextTurn();
  }).then(
    (run) => process.send!({ type: 'done', run }),
    (e: Error) => process.send!({ type: 'error', message: `${job.spec.name}: ${e.message}` }),
  );
});
