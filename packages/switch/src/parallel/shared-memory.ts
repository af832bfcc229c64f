import { getBackend } from '@switch-ts/tensor';
import type { FloatDType } from '../checks.js';

/**
 * What the host, the supervisor and the devices share: a control block of Int32 words, read and
 * written with Atomics, so that a step needs no message (and no event loop) on any side. The host
 * blocks in Atomics.wait while its devices compute: the layer's forward and backward stay
 * synchronous, like every other op of the autodiff graph.
 *
 * Words: PENDING counts the devices still working on the current command (the host waits on it);
 * FAILED is 0, 1 + the index of a device that died, or SUPERVISOR_DIED; READY counts the devices
 * that started; RELEASED ticks whenever a compute slot frees; HEARTBEAT ticks while the supervisor
 * lives; then one word per compute slot (0 = free, 1 + d = held by device d); then per device its
 * command word, its flags and the rows it received for each of its experts.
 */
export const PENDING = 0;
export const FAILED = 1;
export const READY = 2;
const RELEASED = 3;
export const HEARTBEAT = 4;
const FIRST_SLOT = 5;

/** FAILED's value once the supervisor has died: its devices end with it, and nobody is left to report them. */
export const SUPERVISOR_DIED = -1;
/** The supervisor ticks HEARTBEAT this often. */
export const HEARTBEAT_MS = 50;
/**
 * A host blocked in a step declares the supervisor dead after this long without a tick: a hundred
 * missed ticks, far beyond any scheduling delay, and still a bounded wait.
 */
export const SUPERVISOR_SILENCE_MS = 5000;

export const Command = { idle: 0, forward: 1, backward: 2 } as const;
/** Flags of a command: build the graph for a backward; apply expert dropout. */
export const Flag = { record: 1, dropout: 2 } as const;

export class ControlBlock {
  readonly words: Int32Array;

  constructor(readonly devices: number, readonly expertsPerDevice: number, readonly concurrency: number, buffer?: SharedArrayBuffer) {
    const length = FIRST_SLOT + concurrency + devices * (2 + expertsPerDevice);
    this.words = new Int32Array(buffer ?? new SharedArrayBuffer(length * Int32Array.BYTES_PER_ELEMENT));
  }

  get buffer(): SharedArrayBuffer {
    return this.words.buffer as SharedArrayBuffer;
  }

  command(device: number): number {
    return FIRST_SLOT + this.concurrency + device * (2 + this.expertsPerDevice);
  }
  flags(device: number): number {
    return this.command(device) + 1;
  }
  rows(device: number, localExpert: number): number {
    return this.command(device) + 2 + localExpert;
  }

  /**
   * Waits for one of `concurrency` compute slots: devices beyond the machine's cores take turns,
   * so that each device's busy time is its own compute, not time shared with another thread.
   */
  acquireSlot(device: number): void {
    const w = this.words;
    for (;;) {
      const released = Atomics.load(w, RELEASED);
      for (let s = FIRST_SLOT; s < FIRST_SLOT + this.concurrency; s++) {
        if (Atomics.compareExchange(w, s, 0, device + 1) === 0) return;
      }
      Atomics.wait(w, RELEASED, released);
    }
  }

  /** Frees the slot `device` holds, if any: the supervisor calls it for a device that died in one. */
  releaseSlot(device: number): void {
    const w = this.words;
    for (let s = FIRST_SLOT; s < FIRST_SLOT + this.concurrency; s++) {
      if (Atomics.compareExchange(w, s, device + 1, 0) === device + 1) {
        Atomics.add(w, RELEASED, 1);
        Atomics.notify(w, RELEASED);
      }
    }
  }

  /** Marks `device` as dead (the first death wins) and wakes whoever waits on the step. */
  fail(device: number): void {
    this.releaseSlot(device);
    this.markFailed(device + 1);
  }

  /** Marks the supervisor as dead; returns false if an earlier death was marked first. */
  failSupervisor(): boolean {
    return this.markFailed(SUPERVISOR_DIED);
  }

  private markFailed(value: number): boolean {
    const first = Atomics.compareExchange(this.words, FAILED, 0, value) === 0;
    Atomics.notify(this.words, PENDING);
    return first;
  }
}

export function floatArray(dtype: FloatDType, buffer: SharedArrayBuffer, offset = 0, length?: number): Float32Array | Float64Array {
  const bytes = dtype === 'float64' ? 8 : 4;
  const n = length ?? buffer.byteLength / bytes - offset;
  return dtype === 'float64' ? new Float64Array(buffer, offset * bytes, n) : new Float32Array(buffer, offset * bytes, n);
}

export function sharedFloats(dtype: FloatDType, length: number): Float32Array | Float64Array {
  const bytes = (dtype === 'float64' ? 8 : 4) * length;
  return floatArray(dtype, new SharedArrayBuffer(bytes));
}

/**
 * The layer's tensors over shared memory are `fromArray` tensors, which share their array only on
 * the cpu backend; every entry point checks for it before it does anything, so that a refused call
 * changes nothing (no step, no random draw, no tensor moved).
 */
export function requireCpuBackend(op: string): void {
  const { name } = getBackend();
  if (name !== 'cpu') {
    throw new Error(`${op}: needs the cpu backend (its experts live in memory shared with the device threads), the active backend is '${name}'; call setBackend('cpu') first`);
  }
}
