import { Worker, type WorkerOptions } from 'node:worker_threads';

/**
 * Starts `./<name>` of this folder as a worker thread. Built JS starts as is. From the TypeScript
 * sources (vitest, tsx) the thread first registers tsx's loader: Node 20 ignores `--import` for a
 * worker's entry, so the entry is imported once the hooks are in place, with the development
 * condition that resolves the workspace packages to their sources.
 */
export function startWorker(name: string, opts: Pick<WorkerOptions, 'workerData' | 'transferList'>): Worker {
  if (!import.meta.url.endsWith('.ts')) return new Worker(new URL(`./${name}.js`, import.meta.url), opts);
  const entry = new URL(`./${name}.ts`, import.meta.url).href;
  const tsx = import.meta.resolve('tsx/esm/api');
  const bootstrap = `import(${JSON.stringify(tsx)}).then((tsx) => { tsx.register(); return import(${JSON.stringify(entry)}); });`;
  return new Worker(bootstrap, { ...opts, eval: true, execArgv: ['--conditions=development'] });
}
