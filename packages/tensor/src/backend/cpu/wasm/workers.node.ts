import { Worker } from 'node:worker_threads';

/**
 * Threads in Node, where package.json's `#workers` import (condition `node`) leads: worker_threads
 * running a script given as source. Browsers get workers.browser.ts instead.
 */

/**
 * Starts a worker that runs `source` (which defines `main(data)`) on `data`. Unreferenced, so
 * that an idle team of matmul threads does not keep the process alive.
 */
export function startWorker(source: string, data: unknown): { terminate(): void } {
  const worker = new Worker(`${source}\nrequire('node:worker_threads').parentPort.once('message', main);`, { eval: true });
  worker.unref();
  worker.postMessage(data);
  return { terminate: () => void worker.terminate() };
}
