import { MessageChannel, receiveMessageOnPort, type MessagePort, type Worker } from 'node:worker_threads';
import type { FloatDType } from '../checks.js';
import { gatherRows, scatterRows, type DeviceRoutes } from './all-to-all.js';
import type { DeviceInit } from './device-worker.js';
import { Command, ControlBlock, FAILED, PENDING, READY, floatArray } from './shared-memory.js';
import type { DeviceFailure, SupervisorInit, SupervisorRequest } from './supervisor.js';
import { startWorker } from './threads.js';

export type DeviceGroupOptions = Pick<DeviceInit, 'devices' | 'concurrency' | 'dModel' | 'dFF' | 'dtype' | 'activation' | 'expertDropout' | 'seed' | 'weights'> & {
  numExperts: number;
};

/** What one exchange (rows out, experts, rows back) cost. */
export interface Exchange {
  values: Float32Array | Float64Array;
  /** Host wall time from the first row sent to the last row received. */
  wallSeconds: number;
  /** Each device's compute in this exchange. */
  busySeconds: number[];
  /** Bytes each device received and sent. */
  bytes: number[];
}

/**
 * The host's side of D devices: starts their threads once (under a supervisor thread that reports
 * deaths), owns the row buffers each device reads and writes, and runs one exchange at a time,
 * blocking until every device is done or one has died.
 */
export class DeviceGroup {
  readonly count: number;
  readonly expertsPerDevice: number;
  private readonly control: ControlBlock;
  private readonly busy: Float64Array;
  private readonly dtype: FloatDType;
  private readonly dModel: number;
  private readonly supervisor: Worker;
  private readonly supervisorExited: Promise<void>;
  private readonly host: MessagePort;
  private readonly mailboxes: MessagePort[] = [];
  private readonly boxes: { inbox: Float32Array | Float64Array; outbox: Float32Array | Float64Array }[] = [];
  private startupError: Error | null = null;
  /** Why a device died, as the supervisor reported it. */
  private failure: string | null = null;
  private closed = false;

  constructor(opts: DeviceGroupOptions) {
    const { devices, concurrency, numExperts, dModel, dtype } = opts;
    this.count = devices;
    this.expertsPerDevice = numExperts / devices;
    this.dtype = dtype;
    this.dModel = dModel;
    this.control = new ControlBlock(devices, this.expertsPerDevice, concurrency);
    this.busy = new Float64Array(new SharedArrayBuffer(devices * Float64Array.BYTES_PER_ELEMENT));
    const inits = Array.from({ length: devices }, (_, device): DeviceInit => {
      const { port1, port2 } = new MessageChannel();
      this.mailboxes.push(port1);
      const empty = floatArray(dtype, new SharedArrayBuffer(0));
      this.boxes.push({ inbox: empty, outbox: empty });
      return {
        device, devices, expertsPerDevice: this.expertsPerDevice, concurrency, control: this.control.buffer, busy: this.busy.buffer as SharedArrayBuffer,
        weights: opts.weights, dModel, dFF: opts.dFF, dtype, activation: opts.activation, expertDropout: opts.expertDropout, seed: opts.seed, mailbox: port2,
      };
    });
    const { port1, port2 } = new MessageChannel();
    this.host = port1;
    const init: SupervisorInit = { devices: inits, host: port2 };
    this.supervisor = startWorker('supervisor', { workerData: init, transferList: [port2, ...inits.map((d) => d.mailbox)] });
    this.supervisor.on('error', (e) => { this.startupError = e; });
    this.supervisorExited = new Promise((resolve) => this.supervisor.once('exit', () => resolve()));
    // A forgotten close() must not keep the process alive.
    this.supervisor.unref();
  }

  /** Resolves once every device thread has started; rejects if one could not. */
  async ready(): Promise<void> {
    const w = this.control.words;
    while (Atomics.load(w, READY) < this.count) {
      if (this.startupError) throw new Error(`ExpertParallelLayer: the device threads could not start: ${this.startupError.message}`);
      this.throwIfFailed('ExpertParallelLayer.ready');
      if (this.closed) throw new Error('ExpertParallelLayer.ready: the layer was closed');
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
  }

  /**
   * One exchange: each device's rows of `values` out, `command` run on every device at once (at
   * most `concurrency` computing), the results back into a new array shaped like `values`.
   */
  exchange(op: string, command: typeof Command.forward | typeof Command.backward, routes: DeviceRoutes[], values: Float32Array | Float64Array, flags: number): Exchange {
    const w = this.control.words, c = this.control, width = this.dModel;
    if (this.closed) throw new Error(`${op}: the layer was closed`);
    this.throwIfFailed(op);
    if (Atomics.load(w, READY) < this.count) throw new Error(`${op}: the devices are still starting; await layer.ready() before the first step`);
    const started = performance.now();
    routes.forEach(({ slots, rowsPerExpert }, d) => {
      gatherRows(values, slots, width, this.rowBuffers(d, slots.length).inbox);
      rowsPerExpert.forEach((rows, l) => Atomics.store(w, c.rows(d, l), rows));
      Atomics.store(w, c.flags(d), flags);
    });
    Atomics.store(w, PENDING, this.count);
    for (let d = 0; d < this.count; d++) {
      Atomics.store(w, c.command(d), command);
      Atomics.notify(w, c.command(d));
    }
    for (let p = Atomics.load(w, PENDING); p > 0 && Atomics.load(w, FAILED) === 0; p = Atomics.load(w, PENDING)) Atomics.wait(w, PENDING, p);
    this.throwIfFailed(op);
    const out = this.dtype === 'float64' ? new Float64Array(values.length) : new Float32Array(values.length);
    routes.forEach(({ slots }, d) => scatterRows(this.boxes[d]!.outbox, slots, width, out));
    const bytesPerRow = width * out.BYTES_PER_ELEMENT;
    return {
      values: out, wallSeconds: (performance.now() - started) / 1000, busySeconds: Array.from(this.busy),
      bytes: routes.map((r) => r.slots.length * bytesPerRow),
    };
  }

  /** Ends device `device`'s thread, as a crash would; resolves once the group has noticed. */
  async terminate(device: number): Promise<void> {
    this.request({ terminate: device });
    while (Atomics.load(this.control.words, FAILED) === 0) await new Promise((resolve) => setTimeout(resolve, 5));
  }

  /** Ends every thread; the layer cannot step afterwards. */
  async close(): Promise<void> {
    if (!this.closed) {
      this.supervisor.ref();
      this.request({ close: true });
    }
    this.closed = true;
    await this.supervisorExited;
  }

  /** Experts [first, first + E/D) of a device, for messages. */
  expertsOf(device: number): string {
    const first = device * this.expertsPerDevice;
    return this.expertsPerDevice === 1 ? `expert ${first}` : `experts ${first}–${first + this.expertsPerDevice - 1}`;
  }

  private request(r: SupervisorRequest): void {
    this.host.postMessage(r);
  }

  /** A device's row buffers, grown (and sent to it) when a step needs more rows than they hold. */
  private rowBuffers(device: number, rows: number): { inbox: Float32Array | Float64Array } {
    const box = this.boxes[device]!;
    if (box.inbox.length >= rows * this.dModel) return box;
    const capacity = Math.max(rows, 2 * box.inbox.length / this.dModel) * this.dModel;
    const buffer = new SharedArrayBuffer(2 * capacity * (this.dtype === 'float64' ? 8 : 4));
    box.inbox = floatArray(this.dtype, buffer, 0, capacity);
    box.outbox = floatArray(this.dtype, buffer, capacity, capacity);
    this.mailboxes[device]!.postMessage(buffer);
    return box;
  }

  private throwIfFailed(op: string): void {
    const failed = Atomics.load(this.control.words, FAILED);
    if (failed === 0) return;
    this.failure ??= (receiveMessageOnPort(this.host)?.message as DeviceFailure | undefined)?.message ?? 'its thread died';
    throw new Error(`${op}: device ${failed - 1} of ${this.count} (${this.expertsOf(failed - 1)}) failed: ${this.failure}`);
  }
}
