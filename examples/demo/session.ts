import { resolve } from 'node:path';
import { UsageError, type Options } from './cli.js';
import type { Corpus } from './data.js';
import { runsFor } from './experiments.js';
import { ProgressView } from './progress.js';
import { machine } from '../shared/machine.js';
import { corpusOf, runInProcess, runInWorkers, type Job, type RunEvents } from './runner.js';
import { loadRun, runFolder } from './store.js';
import { modelFor, type TrainedRun } from './train.js';

/**
 * Trains the runs `options` asks for (with `resume`, those not already finished in `out` with the
 * same configuration) and writes the report after each run, so that a kill at any moment loses
 * only the runs in flight; returns the exit code.
 */
export async function runDemo(options: Options, out: NodeJS.WriteStream): Promise<number> {
  const { settings, experiments } = options;
  const corpus = corpusFor(options);
  // The report, and with it the chart library, loads once the options have passed every check.
  const { resultsOf, writeReport } = await import('./report.js');
  const dir = resolve(options.out);
  const specs = runsFor(experiments);
  const jobs: Job[] = specs.map((spec) => ({ spec, folder: runFolder(dir, spec, settings, options.data, corpus.description) }));
  const finished = new Map<string, TrainedRun>();
  const report = (): void => writeReport(dir, {
    version: 1,
    machine: machine(),
    settings: { ...settings, data: corpus.description, pending: specs.filter((s) => !finished.has(s.name)).map((s) => s.name) },
    runs: resultsOf(finished, experiments),
    switchFlopsPerToken: Object.fromEntries([...finished].map(([name, run]) => [name, run.switchFlopsPerToken])),
  }, finished);

  if (options.resume) {
    for (const { spec, folder } of jobs) {
      const found = loadRun(folder, modelFor(spec, corpus, settings));
      if ('run' in found) {
        finished.set(spec.name, found.run);
        out.write(`resumed ${spec.name} from ${folder.dir} (finished earlier with the same settings)\n`);
      } else if (found.reason !== null) {
        out.write(`retraining ${spec.name}: ${folder.dir} cannot be reused: ${found.reason}\n`);
      }
    }
  }
  const todo = jobs.filter((j) => !finished.has(j.spec.name));
  const started = performance.now();
  out.write(`demo: ${todo.length} of ${specs.length} runs to train (${experiments.join(', ')}), ${settings.steps} steps each, ${Math.min(options.jobs, todo.length)} at a time; ${corpus.description}\n`);
  out.write(`demo: each run is kept in ${dir}/runs as it finishes; if the demo stops, the same command with --resume finishes it\n`);
  const view = new ProgressView(out, Math.max(1, Math.round(settings.steps / 5)));
  const events: RunEvents = {
    progress: (name, p) => view.update(name, p),
    done: (run) => {
      finished.set(run.spec.name, run);
      view.log(`done ${run.spec.name.padEnd(10)} held-out loss ${run.finalLoss.toFixed(3)}  ${Math.round(run.tokensPerSecond)} tok/s  ${run.wallSeconds.toFixed(1)} s  (${finished.size}/${specs.length})`, run.spec.name);
      report();
    },
  };
  if (todo.length === 0) report();
  else if (options.jobs === 1) await runInProcess(todo, options.data, settings, events);
  else await runInWorkers(todo, options.data, settings, events, options.jobs);
  const seconds = (performance.now() - started) / 1000;
  out.write(`report of ${finished.size} runs in ${dir}/index.html (${seconds.toFixed(0)} s)\n`);
  return 0;
}

/** Builds the corpus up front, so that a text too short for the model fails before training. */
function corpusFor(options: Options): Corpus {
  try {
    return corpusOf(options.data, options.settings);
  } catch (e) {
    throw new UsageError(`--text: ${(e as Error).message}`);
  }
}
