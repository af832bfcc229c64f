import { cpuCount, startWorker } from '#workers';
import { PRODUCT_ARGS } from './matmul-module.js';

/**
 * Threads for the float32 matmul: a team of workers, each running the matmul module on the same
 * shared wasm memory. A product is split into blocks of C on tile boundaries; this thread takes
 * the first block and each worker one more (see WasmMatmul.run). Every element of C is computed
 * by the same instructions in the same order whichever thread computes it, so the result is
 * bitwise the same for any number of threads (test/threads.test.ts checks 1, 2 and 3).
 *
 * The workers and this thread meet on a control block of int32s in a SharedArrayBuffer:
 * GENERATION counts the jobs handed out (workers sleep on it with Atomics.wait), PENDING the
 * workers still busy with the current one (this thread sleeps on it), READY the workers that
 * have started, FAILED a worker's error; then each worker's arguments to `product`.
 */
const GENERATION = 0, PENDING = 1, READY = 2, FAILED = 3, ARGS = 4;
/** A worker that has not answered by then has died; waiting longer would hang the caller. */
const TIMEOUT_MS = 60_000;
/**
 * How long a thread checks for its signal before it sleeps. Waking a sleeping thread (a futex)
 * costs 0.1–0.3 ms on this VM, as long as a 5-million-multiply-add product: with a 0.5 ms spin,
 * which a training step's elementwise work between two matmuls outlasts, 2 threads made
 * 512×128×512 1.05× faster than 1; with 5 ms, 1.47×. OpenMP runtimes spin for the same reason.
 */
const SPIN_MS = 5;

/** Source of a loop that spins while `condition` holds, for at most SPIN_MS (the workers' side of Team.run's wait). */
function spinWhile(condition: string): string {
  return `for (const until = performance.now() + ${SPIN_MS}; ${condition} && performance.now() < until;);`;
}

/**
 * The worker's whole program (a classic script, so that no file has to be found, served or
 * bundled): start the module on the shared memory, then forever wait for a job, run it, report.
 */
const workerSource = `
function main({ module, memory, control, worker }) {
  const ctl = new Int32Array(control);
  const { product } = new WebAssembly.Instance(module, { env: { memory } }).exports;
  const args = new Int32Array(control, (${ARGS} + worker * ${PRODUCT_ARGS}) * 4, ${PRODUCT_ARGS});
  Atomics.add(ctl, ${READY}, 1);
  for (let seen = 0; ; ) {
    ${spinWhile('Atomics.load(ctl, ' + GENERATION + ') === seen')}
    Atomics.wait(ctl, ${GENERATION}, seen);
    seen = Atomics.load(ctl, ${GENERATION});
    try {
      product(...args);
    } catch (e) {
      console.error('switch-ts matmul worker', worker, e);
      Atomics.store(ctl, ${FAILED}, 1);
    }
    if (Atomics.sub(ctl, ${PENDING}, 1) === 1) Atomics.notify(ctl, ${PENDING});
  }
}`;

let requested: number | undefined;
/** Bumped by setThreads, so that the matmul rebuilds its team. */
let generation = 0;

/**
 * Sets how many threads a float32 matmul may use (this one included), like torch.set_num_threads.
 * Results do not depend on it: they are bitwise the same for any count. The default is the number
 * of logical CPUs, at most 4. Threads need SharedArrayBuffer (in a browser, a cross-origin
 * isolated page) and, off Node, a context that may block (a Web Worker, not a page's main thread);
 * elsewhere the matmul runs on one thread whatever is set.
 */
export function setThreads(n: number): void {
  if (!(Number.isInteger(n) && n >= 1 && n <= 64)) throw new Error(`setThreads: n must be an integer from 1 to 64, got ${n}`);
  requested = n;
  generation++;
}

/** The threads a float32 matmul may use (setThreads, or the default). */
export function getThreads(): number {
  return (requested ??= Math.max(1, Math.min(4, cpuCount())));
}

/** Changes whenever setThreads is called. */
export function threadsGeneration(): number {
  return generation;
}

let canBlock: boolean | undefined;

/** Whether this thread may sleep in Atomics.wait (a browser page's main thread may not). */
function blockingAllowed(): boolean {
  if (canBlock === undefined) {
    try {
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 1, 0);
      canBlock = true;
    } catch {
      canBlock = false;
    }
  }
  return canBlock;
}

/** Whether threads can run here at all: shared memory, and a thread that may wait for them. */
export function threadsSupported(): boolean {
  return typeof SharedArrayBuffer === 'function' && typeof Atomics === 'object' && blockingAllowed();
}

export class Team {
  private readonly control: Int32Array;
  private readonly workers: { terminate(): void }[] = [];

  /** `size` threads in all: this one and size − 1 workers, started now and ready a little later. */
  constructor(module: object, memory: object, readonly size: number) {
    this.control = new Int32Array(new SharedArrayBuffer((ARGS + (size - 1) * PRODUCT_ARGS) * 4));
    for (let worker = 0; worker < size - 1; worker++) {
      this.workers.push(startWorker(workerSource, { module, memory, control: this.control.buffer, worker }));
    }
  }

  /** Whether every worker has started; until then the caller computes alone. */
  get ready(): boolean {
    return Atomics.load(this.control, READY) === this.size - 1;
  }

  /**
   * Runs jobs[0] on this thread (through `own`) and jobs[1…] on the workers, one each, and
   * returns when all are done. Needs `ready` and exactly `size` jobs.
   */
  run(jobs: readonly number[][], own: (args: readonly number[]) => void): void {
    if (jobs.length !== this.size) throw new Error(`matmul: ${jobs.length} jobs for a team of ${this.size} threads`);
    const ctl = this.control;
    for (let w = 0; w < this.size - 1; w++) ctl.set(jobs[w + 1]!, ARGS + w * PRODUCT_ARGS);
    Atomics.store(ctl, PENDING, this.size - 1);
    Atomics.add(ctl, GENERATION, 1);
    Atomics.notify(ctl, GENERATION);
    own(jobs[0]!);
    for (const until = performance.now() + SPIN_MS; Atomics.load(ctl, PENDING) !== 0 && performance.now() < until;);
    for (let left; (left = Atomics.load(ctl, PENDING)) !== 0;) {
      if (Atomics.wait(ctl, PENDING, left, TIMEOUT_MS) === 'timed-out') {
        throw new Error(`matmul: ${left} of ${this.size - 1} worker threads did not finish within ${TIMEOUT_MS / 1000} s`);
      }
    }
    if (Atomics.exchange(ctl, FAILED, 0) !== 0) throw new Error('matmul: a worker thread failed (its error is on the console)');
  }

  close(): void {
    for (const w of this.workers) w.terminate();
  }
}
