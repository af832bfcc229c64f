import { MessageChannel, receiveMessageOnPort, type MessagePort, type Worker } from 'node:worker_threads';
import type { FloatDType } from '../checks.js';
import { gatherRows, scatterRows, type DeviceRoutes } from './all-to-all.js';
import type { DeviceInit } from './device-worker.js';
import { Command, ControlBlock, FAILED, HEARTBEAT, PENDING, READY, SUPERVISOR_DIED, SUPERVISOR_SILENCE_MS, floatArray } from './shared-memory.js';
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

/** The slice of a blocked host's wait: after each one without news it checks the supervisor's heartbeat. */
const WAIT_SLICE_MS = 100;

/**
 * The host's side of D devices: starts their threads once (under a supervisor thread that reports
 * deaths), owns the row buffers each device reads and writes, and runs one exchange at a time,
 * blocking until every device is done, one has died, or the supervisor has died. Every wait,
 * blocking or not, ends: in a result, or in an Error that says which thread died.
 */
export class DeviceGroup {
  readonly count: number;
  readonly expertsPerDevice: number;
  private readonly control: ControlBlock;
  private readonly busy: Float64Array;
  private readonly dtype: FloatDType;
  private readonly dModel: number;
  private readonly supervisor: Worker;
  private readonly host: MessagePort;
  private readonly mailboxes: MessagePort[] = [];
  private readonly boxes: { inbox: Float32Array | Float64Array; outbox: Float32Array | Float64Array }[] = [];
  /** Why the first thread died: a device, as the supervisor reported it, or the supervisor itself. */
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
    let error: string | undefined;
    this.supervisor.on('error', (e) => { error = e.message; });
    this.supervisor.on('exit', (code) => {
      if (!this.closed && this.control.failSupervisor()) this.failure = error ?? `it exited with code ${code}`;
    });
    // A forgotten close() must not keep the process alive.
    this.supervisor.unref();
  }

  /** Resolves once every device thread has started; rejects if one could not, or the layer was closed. */
  async ready(): Promise<void> {
    for (;;) {
      this.requireOpen('ExpertParallelLayer.ready');
      if (Atomics.load(this.control.words, READY) === this.count) return;
      await pause();
    }
  }

  /** Throws, naming `op`, unless the devices can take a step: started, none dead, not closed. */
  requireReady(op: string): void {
    this.requireOpen(op);
    if (Atomics.load(this.control.words, READY) < this.count) throw new Error(`${op}: the devices are still starting; await layer.ready() before the first step`);
  }

  /**
   * One exchange: each device's rows of `values` out, `command` run on every device at once (at
   * most `concurrency` computing), the results back into a new array shaped like `values`. The
   * caller has checked `requireReady` before anything it did for this step.
   */
  exchange(op: string, command: typeof Command.forward | typeof Command.backward, routes: DeviceRoutes[], values: Float32Array | Float64Array, flags: number): Exchange {
    const w = this.control.words, c = this.control, width = this.dModel;
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
    this.waitForDevices();
    this.requireOpen(op);
    const out = this.dtype === 'float64' ? new Float64Array(values.length) : new Float32Array(values.length);
    routes.forEach(({ slots }, d) => scatterRows(this.boxes[d]!.outbox, slots, width, out));
    const bytesPerRow = width * out.BYTES_PER_ELEMENT;
    return {
      values: out, wallSeconds: (performance.now() - started) / 1000, busySeconds: Array.from(this.busy),
      bytes: routes.map((r) => r.slots.length * bytesPerRow),
    };
  }

  /**
   * Ends device `device`'s thread, as a crash would; resolves once the group has noticed a death,
   * or once close() (before or after this call) has ended every thread.
   */
  async terminate(device: number): Promise<void> {
    const request: SupervisorRequest = { terminate: device };
    this.host.postMessage(request);
    while (Atomics.load(this.control.words, FAILED) === 0 && !this.closed) await pause();
    if (this.closed) await this.close();
  }

  /** Ends the supervisor thread, and every device with it, as a crash would; resolves once it has exited. */
  async terminateSupervisor(): Promise<void> {
    await this.supervisor.terminate();
  }

  /** Ends every thread (the supervisor's end ends its devices); the layer cannot step afterwards. */
  async close(): Promise<void> {
    this.closed = true;
    // Held until the threads are gone, so that code after `await close()` runs.
    this.supervisor.ref();
    await this.supervisor.terminate();
  }

  /** Experts [first, first + E/D) of a device, for messages. */
  expertsOf(device: number): string {
    const first = device * this.expertsPerDevice;
    return this.expertsPerDevice === 1 ? `expert ${first}` : `experts ${first}–${first + this.expertsPerDevice - 1}`;
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

  /**
   * Blocks until every device is done or a death is marked. A device's death is marked by the
   * supervisor; the supervisor's own, by this wait when its heartbeat stops for SUPERVISOR_SILENCE_MS.
   */
  private waitForDevices(): void {
    const w = this.control.words;
    let beat = Atomics.load(w, HEARTBEAT), silentSlices = 0;
    for (let p = Atomics.load(w, PENDING); p > 0 && Atomics.load(w, FAILED) === 0; p = Atomics.load(w, PENDING)) {
      if (Atomics.wait(w, PENDING, p, WAIT_SLICE_MS) !== 'timed-out') continue;
      const now = Atomics.load(w, HEARTBEAT);
      silentSlices = now === beat ? silentSlices + 1 : 0;
      beat = now;
      if (silentSlices * WAIT_SLICE_MS >= SUPERVISOR_SILENCE_MS && this.control.failSupervisor()) {
        this.failure = `no heartbeat for ${SUPERVISOR_SILENCE_MS / 1000} s`;
      }
    }
  }

  /** Throws, naming `op`, if the layer was closed or one of its threads died. */
  private requireOpen(op: string): void {
    if (this.closed) throw new Error(`${op}: the layer was closed`);
    const failed = Atomics.load(this.control.words, FAILED);
    if (failed === 0) return;
    if (failed === SUPERVISOR_DIED) throw new Error(`${op}: the supervisor thread died (${this.failure}); its devices ended with it`);
    this.failure ??= (receiveMessageOnPort(this.host)?.message as DeviceFailure | undefined)?.message ?? 'its thread died';
    throw new Error(`${op}: device ${failed - 1} of ${this.count} (${this.expertsOf(failed - 1)}) failed: ${this.failure}`);
  }
}

const pause = (): Promise<void> => new Promise((resolve) => setTimeout(resolve, 5));
