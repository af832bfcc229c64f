import { resolve } from 'node:path';
import { UsageError, type Options } from './cli.js';
import { runsFor } from './experiments.js';
import { ProgressView } from './progress.js';
import { machine } from '../shared/machine.js';
import type { Results } from './report.js';
import { corpusOf, Interrupted, runInProcess, runInWorkers, type RunEvents } from './runner.js';
import type { TrainedRun } from './train.js';

/** Trains the runs `options` asks for and writes the report; returns the exit code. */
export async function runDemo(options: Options, out: NodeJS.WriteStream): Promise<number> {
  const description = describeData(options);
  // The report, and with it the chart library, loads once the options have passed every check.
  const { resultsOf, writeReport } = await import('./report.js');
  const specs = runsFor(options.experiments);
  const started = performance.now();
  out.write(`demo: ${specs.length} runs (${options.experiments.join(', ')}), ${options.settings.steps} steps each, ${Math.min(options.jobs, specs.length)} at a time; ${description}\n`);
  const view = new ProgressView(out, Math.max(1, Math.round(options.settings.steps / 5)));
  const trained = new Map<string, TrainedRun>();
  const events: RunEvents = {
    progress: (name, p) => view.update(name, p),
    done: (run) => {
      trained.set(run.spec.name, run);
      view.log(`done ${run.spec.name.padEnd(10)} held-out loss ${run.finalLoss.toFixed(3)}  ${Math.round(run.tokensPerSecond)} tok/s  ${run.wallSeconds.toFixed(1)} s  (${trained.size}/${specs.length})`, run.spec.name);
    },
  };

  let interrupted = false;
  let stopWorkers = (): void => {};
  const onInterrupt = (): void => {
    interrupted = true;
    stopWorkers();
  };
  process.on('SIGINT', onInterrupt);
  try {
    if (options.jobs === 1) {
      await runInProcess(specs, options.data, options.settings, events, () => interrupted);
    } else {
      const pool = runInWorkers(specs, options.data, options.settings, events, options.jobs);
      stopWorkers = pool.stop;
      await pool.finished;
    }
  } catch (e) {
    if (!interrupted && !(e instanceof Interrupted)) throw e;
  } finally {
    process.off('SIGINT', onInterrupt);
  }

  const results: Results = {
    version: 1,
    machine: machine(),
    settings: { ...options.settings, data: description, interrupted },
    runs: resultsOf(trained, options.experiments),
    switchFlopsPerToken: Object.fromEntries([...trained].map(([name, run]) => [name, run.switchFlopsPerToken])),
  };
  const dir = resolve(options.out);
  writeReport(dir, results, trained);
  const seconds = (performance.now() - started) / 1000;
  out.write(`${interrupted ? 'interrupted: ' : ''}report of ${trained.size} runs in ${dir}/index.html (${seconds.toFixed(0)} s)\n`);
  return interrupted ? 130 : 0;
}

/** Builds the corpus once up front, so that a text too short for the model fails before training. */
function describeData(options: Options): string {
  try {
    return corpusOf(options.data, options.settings).description;
  } catch (e) {
    throw new UsageError(`--text: ${(e as Error).message}`);
  }
}
