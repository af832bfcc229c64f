/**
 * Threads outside Node, where package.json's `#workers` import leads by default: Web Workers
 * running a script given as source (a Blob URL, so no worker file has to be served or bundled).
 * Node gets workers.node.ts instead.
 */

/** The part of the Web Worker API used here (tsconfig's lib has no DOM). */
interface WebWorker {
  postMessage(data: unknown): void;
  terminate(): void;
}
type WorkerConstructor = new (url: string) => WebWorker;

/** Starts a worker that runs `source` (which defines `main(data)`) on `data`. */
export function startWorker(source: string, data: unknown): { terminate(): void } {
  const Worker = (globalThis as { Worker?: WorkerConstructor }).Worker;
  if (!Worker) throw new Error('setThreads: this runtime has no Web Workers');
  const url = URL.createObjectURL(new Blob([`${source}\nself.onmessage = (e) => main(e.data);`], { type: 'text/javascript' }));
  const worker = new Worker(url);
  worker.postMessage(data);
  return { terminate: () => { worker.terminate(); URL.revokeObjectURL(url); } };
}
