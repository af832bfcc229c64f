import type { ComputeRequest, ComputeResults, FromWorker, ToWorker } from './protocol.js';

/**
 * A new instance of the one worker script, which holds all of the page's tensor computation: the
 * page's own bundle is UI code only, and both kinds of instance share one copy of the packages.
 */
export const spawnWorker = (): Worker => new Worker(new URL('./trainer.worker.ts', import.meta.url), { type: 'module' });

export type Compute = <R extends ComputeRequest>(request: R) => Promise<ComputeResults[R['kind']]>;

/**
 * The route view's and the cost table's numbers, from one instance that lives as long as the page
 * and never trains (started on first use). Answers come in the order asked; a request the worker
 * could not answer rejects with its error.
 */
export const compute: Compute = (() => {
  let worker: Worker | null = null;
  let next = 0;
  const pending = new Map<number, { resolve: (r: never) => void; reject: (e: Error) => void }>();
  const start = (): Worker => {
    const w = spawnWorker();
    w.onmessage = ({ data }: MessageEvent<FromWorker>) => {
      if (data.type !== 'computed') return;
      const p = pending.get(data.id);
      pending.delete(data.id);
      if ('error' in data) p?.reject(new Error(data.error));
      else p?.resolve(data.result as never);
    };
    // The next request starts a fresh instance.
    w.onerror = (e) => {
      for (const p of pending.values()) p.reject(new Error(e.message || 'the worker failed to load'));
      pending.clear();
      w.terminate();
      worker = null;
    };
    return w;
  };
  return <R extends ComputeRequest>(request: R) => new Promise<ComputeResults[R['kind']]>((resolve, reject) => {
    const id = next++;
    pending.set(id, { resolve, reject });
    worker ??= start();
    worker.postMessage({ type: 'compute', id, request } satisfies ToWorker);
  });
})();

/**
 * Runs `f` on the answer to the latest call only: a view that asks again before the last answer
 * came (a learner typing) draws what its knobs say now, never an older answer after a newer one.
 */
export function latest<A extends unknown[], T>(ask: (...args: A) => Promise<T>, f: (result: T | Error, ...args: A) => void): (...args: A) => void {
  let last = 0;
  return (...args: A) => {
    const mine = ++last;
    ask(...args).then((r) => r, (e: unknown) => (e instanceof Error ? e : new Error(String(e))))
      .then((r) => { if (mine === last) f(r, ...args); });
  };
}
