/** A training process of runner.ts: receives the data and settings, then one run at a time. */
import type { DataSpec } from './cli.js';
import type { Corpus } from './data.js';
import { corpusOf } from './runner.js';
import { train, type RunSpec } from './train.js';

let corpus: Corpus | null = null;
let settings: Parameters<typeof train>[2];
let lastReport = 0;

process.on('SIGINT', () => process.exit(130));
process.on('message', (m: { init?: { data: DataSpec; settings: typeof settings }; spec?: RunSpec }) => {
  if (m.init) {
    settings = m.init.settings;
    corpus = corpusOf(m.init.data, settings);
    return;
  }
  const spec = m.spec!;
  train(spec, corpus!, settings, (progress) => {
    // Progress at most 10 times a second: the parent redraws on each message.
    const now = performance.now();
    if (now - lastReport > 100 || progress.step === progress.steps) {
      lastReport = now;
      process.send!({ type: 'progress', name: spec.name, progress });
    }
  }).then(
    (run) => process.send!({ type: 'done', run }),
    (e: Error) => process.send!({ type: 'error', message: `${spec.name}: ${e.message}` }),
  );
});
