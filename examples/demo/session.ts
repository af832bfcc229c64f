import { resolve } from 'node:path';
import { UsageError, type Options } from './cli.js';
import type { Corpus } from './data.js';
import { runsFor } from './experiments.js';
import { ProgressView } from './progress.js';
import { machine } from '../shared/machine.js';
import { corpusOf, runInProcess, runInWorkers, type Job, type RunEvents } from './runner.js';
import { loadRun, runFolder } from './store.js';
import { modelFor, runId, type TrainedRun } from './train.js';

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
  // Seed-major: with --resume, a demo stopped early has whole seeds to show.
  const jobs: Job[] = options.seeds.flatMap((seed) => runsFor(experiments).map((spec) => ({
    spec, seed, folder: runFolder(dir, spec, seed, settings, options.data, corpus.description),
  })));
  const id = (job: Job): string => runId(job.spec.name, job.seed);
  const finished = new Map<string, TrainedRun>();
  const report = (): void => writeReport(dir, {
    version: 2,
    machine: machine(),
    settings: { ...settings, seeds: options.seeds, quick: options.quick, data: corpus.description, pending: jobs.map(id).filter((name) => !finished.has(name)) },
    runs: resultsOf(finished, experiments),
  }, finished);

  if (options.resume) {
    for (const job of jobs) {
      const found = loadRun(job.folder, modelFor(job.spec, corpus, { ...settings, seed: job.seed }));
      if ('run' in found) {
        finished.set(id(job), found.run);
        out.write(`resumed ${id(job)} from ${job.folder.dir} (finished earlier with the same settings)\n`);
      } else if (found.reason !== null) {
        out.write(`retraining ${id(job)}: ${job.folder.dir} cannot be reused: ${found.reason}\n`);
      }
    }
  }
  const todo = jobs.filter((j) => !finished.has(id(j)));
  const started = performance.now();
  const seeds = options.seeds.length === 1 ? `seed ${options.seeds[0]}` : `seeds ${options.seeds[0]}–${options.seeds.at(-1)}`;
  out.write(`demo: ${todo.length} of ${jobs.length} runs to train (${experiments.join(', ')}; ${seeds}), ${settings.steps} steps each, ${Math.min(options.jobs, todo.length)} at a time; ${corpus.description}\n`);
  out.write(`demo: each run is kept in ${dir}/runs as it finishes; if the demo stops, the same command with --resume finishes it\n`);
  const view = new ProgressView(out, Math.max(1, Math.round(settings.steps / 5)));
  const events: RunEvents = {
    progress: (name, p) => view.update(name, p),
    done: (run) => {
      const name = runId(run.spec.name, run.seed);
      finished.set(name, run);
      view.log(`done ${name.padEnd(13)} held-out loss ${run.finalLoss.toFixed(3)}  ${Math.round(run.tokensPerSecond)} tok/s  ${run.wallSeconds.toFixed(1)} s  (${finished.size}/${jobs.length})`, name);
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
