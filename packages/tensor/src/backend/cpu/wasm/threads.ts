import { startWorker } from '#workers';
import { PRODUCT_ARGS } from './matmul-module.js';

/**
 * Threads for the float32 matmul: a team of workers, each running the matmul module on the same
 * shared wasm memory. A product is cut into chunks, blocks of C on tile boundaries (see
 * WasmMatmul.run); this thread and the workers claim chunks one at a time until none is left.
 * Every element of C is computed by the same instructions in the same order whichever thread
 * computes it, so the result is bitwise the same for any number of threads
 * (test/matmul.threads.test.ts checks 1, 2 and 3). Claiming, rather than a fixed share per thread,
 * lets this thread take the chunks of a worker the system runs late. It softens, not cures, what a
 * busy machine does to threads: beside a browser test run, a step of the demo's model took 3× as
 * long on 2 threads as on 1 with fixed shares and 2.2× with claiming; the rest is the workers'
 * spinning (SPIN_MS; with 0.2 ms, 1.14×), which is why the default is 1 thread.
 *
 * The workers and this thread meet on a control block of int32s in a SharedArrayBuffer.
 * GENERATION counts the products handed out (workers sleep on it). CLAIM holds the product's
 * generation (mod 2^16) in its high half and the next chunk in its low half; a thread takes chunk
 * i by compare-and-swap from (g, i) to (g, i + 1), so a worker that wakes late, for a product that
 * has ended, finds another generation and claims nothing. DONE counts finished chunks (this
 * thread sleeps on it), COUNT is the product's chunks, READY the workers that have started,
 * FAILED a worker's error; then each thread's packing buffers and each chunk's arguments.
 */
const GENERATION = 0, CLAIM = 1, DONE = 2, COUNT = 3, READY = 4, FAILED = 5, SCRATCH = 6;
/** `product`'s arguments but the last two, the packing buffers, which are each thread's own. */
const CHUNK_ARGS = PRODUCT_ARGS - 2;
/** At most this many chunks per product (below CLOSED, which marks a product being written). */
const MAX_CHUNKS = 1024;
const CLOSED = 0xffff;
/** A worker that has not answered by then has died; waiting longer would hang the caller. */
const TIMEOUT_MS = 60_000;
/**
 * How long a thread checks for its signal before it sleeps. Waking a sleeping thread (a futex)
 * costs 0.1–0.3 ms on this VM, as long as a 5-million-multiply-add product: with a 0.5 ms spin,
 * which a training step's elementwise work between two matmuls outlasts, 2 threads made
 * 512×128×512 1.05× faster than 1; with 5 ms, 1.47×. OpenMP runtimes spin for the same reason.
 */
const SPIN_MS = 5;

/**
 * The claiming loop, as source: the workers run it in their script and this thread compiles the
 * same text (`claimChunks`), so the two cannot drift. `chunks` is the control block from the
 * first chunk's arguments on.
 */
const claimSource = `
for (const gen = generation & 0xffff; ;) {
  const c = Atomics.load(ctl, ${CLAIM});
  const i = c & 0xffff;
  if (c >>> 16 !== gen || i === ${CLOSED} || i >= Atomics.load(ctl, ${COUNT})) return;
  if (Atomics.compareExchange(ctl, ${CLAIM}, c, c + 1) !== c) continue;
  const at = i * ${CHUNK_ARGS};
  product(${Array.from({ length: CHUNK_ARGS }, (_, j) => `chunks[at + ${j}]`).join(', ')}, ap, bp);
  if (Atomics.add(ctl, ${DONE}, 1) + 1 === Atomics.load(ctl, ${COUNT})) Atomics.notify(ctl, ${DONE});
}`;

type Claim = (ctl: Int32Array, chunks: Int32Array, generation: number, product: (...args: number[]) => void, ap: number, bp: number) => void;
const claimChunks = new Function('ctl', 'chunks', 'generation', 'product', 'ap', 'bp', claimSource) as Claim;

/**
 * The worker's whole program (a classic script, so that no file has to be found, served or
 * bundled): start the module on the shared memory, then forever: wait for a product (spinning
 * SPIN_MS first), claim its chunks.
 */
const workerSource = `
function claimChunks(ctl, chunks, generation, product, ap, bp) {${claimSource}
}
function main({ module, memory, control, worker, maxChunksAt }) {
  const ctl = new Int32Array(control);
  const chunks = new Int32Array(control, maxChunksAt * 4);
  const { product } = new WebAssembly.Instance(module, { env: { memory } }).exports;
  const scratch = ${SCRATCH} + 2 * (worker + 1);
  Atomics.add(ctl, ${READY}, 1);
  for (let seen = 0; ; ) {
    for (const until = performance.now() + ${SPIN_MS}; Atomics.load(ctl, ${GENERATION}) === seen && performance.now() < until;);
    Atomics.wait(ctl, ${GENERATION}, seen);
    seen = Atomics.load(ctl, ${GENERATION});
    try {
      claimChunks(ctl, chunks, seen, product, ctl[scratch], ctl[scratch + 1]);
    } catch (e) {
      console.error('switch-ts matmul worker', worker, e);
      Atomics.store(ctl, ${FAILED}, 1);
      Atomics.notify(ctl, ${DONE});
    }
  }
}`;

let requested = 1;
/** Bumped by setThreads, so that the matmul rebuilds its team. */
let generation = 0;

/**
 * Sets how many threads a float32 matmul may use (this one included), like torch.set_num_threads.
 * Results do not depend on it: they are bitwise the same for any count. The default is 1: threads
 * pay on a machine the program has to itself (a step of the demo's model 5–10% faster on 2 cores,
 * 1024² matmuls 1.2–1.67×), and cost where other processes compete for the cores, where waiting
 * workers take CPU from them (the same step 2.2× slower on 2 threads than on 1 beside a browser
 * test run). Threads need SharedArrayBuffer (in a browser, a cross-origin isolated page) and, off
 * Node, a context that may block (a Web Worker, not a page's main thread); elsewhere the matmul
 * runs on one thread whatever is set.
 */
export function setThreads(n: number): void {
  if (!(Number.isInteger(n) && n >= 1 && n <= 64)) throw new Error(`setThreads: n must be an integer from 1 to 64, got ${n}`);
  requested = n;
  generation++;
}

/** The threads a float32 matmul may use (setThreads; 1 by default). */
export function getThreads(): number {
  return requested;
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
  private readonly chunks: Int32Array;
  private readonly workers: { terminate(): void }[] = [];
  private generation = 0;

  /** `size` threads in all: this one and size − 1 workers, started now and ready a little later. */
  constructor(module: object, memory: object, readonly size: number) {
    const chunksAt = SCRATCH + 2 * size;
    const buffer = new SharedArrayBuffer((chunksAt + MAX_CHUNKS * CHUNK_ARGS) * 4);
    this.control = new Int32Array(buffer);
    this.chunks = new Int32Array(buffer, chunksAt * 4);
    for (let worker = 0; worker < size - 1; worker++) {
      this.workers.push(startWorker(workerSource, { module, memory, control: buffer, worker, maxChunksAt: chunksAt }));
    }
  }

  /** Whether every worker has started; until then the caller computes alone. */
  get ready(): boolean {
    return Atomics.load(this.control, READY) === this.size - 1;
  }

  /**
   * Runs `product` on every chunk, each given as its arguments but the packing buffers, with
   * `scratch[t]` the packing buffers of thread t (this one is 0): this thread and the workers claim
   * chunks until none is left. Returns when all are done.
   */
  run(chunks: readonly number[][], scratch: readonly { ap: number; bp: number }[], product: (...args: number[]) => void): void {
    if (chunks.length > MAX_CHUNKS) throw new Error(`matmul: ${chunks.length} chunks, more than ${MAX_CHUNKS}`);
    const ctl = this.control;
    const gen = (this.generation = (this.generation + 1) & 0xffff);
    // Closed first: a worker still in the last product's loop must not claim from what is written next.
    Atomics.store(ctl, CLAIM, (gen << 16) | CLOSED);
    chunks.forEach((args, i) => this.chunks.set(args, i * CHUNK_ARGS));
    scratch.forEach(({ ap, bp }, t) => ctl.set([ap, bp], SCRATCH + 2 * t));
    Atomics.store(ctl, DONE, 0);
    Atomics.store(ctl, COUNT, chunks.length);
    Atomics.store(ctl, CLAIM, gen << 16);
    Atomics.store(ctl, GENERATION, gen);
    Atomics.notify(ctl, GENERATION);
    claimChunks(ctl, this.chunks, gen, product, scratch[0]!.ap, scratch[0]!.bp);
    // Only chunks a worker is in the middle of are left.
    for (const until = performance.now() + SPIN_MS; Atomics.load(ctl, DONE) < chunks.length && performance.now() < until;);
    for (let done; (done = Atomics.load(ctl, DONE)) < chunks.length && Atomics.load(ctl, FAILED) === 0;) {
      if (Atomics.wait(ctl, DONE, done, TIMEOUT_MS) === 'timed-out') {
        throw new Error(`matmul: ${chunks.length - done} of ${chunks.length} chunks claimed by worker threads did not finish within ${TIMEOUT_MS / 1000} s`);
      }
    }
    if (Atomics.exchange(ctl, FAILED, 0) !== 0) throw new Error('matmul: a worker thread failed (its error is on the console)');
  }

  close(): void {
    for (const w of this.workers) w.terminate();
  }
}
