import { availableParallelism } from 'node:os';
import { isGradEnabled, record, type Tensor } from '@switch-ts/tensor';
import type { Assignment } from '../capacity.js';
import { requireInteger } from '../checks.js';
import { Experts, type ExpertsOptions } from '../experts.js';
import type { FeedForwardOptions } from '../feed-forward.js';
import { SwitchLayer, type SwitchLayerOptions } from '../switch-layer.js';
import { routesByDevice } from './all-to-all.js';
import { DeviceGroup, type Exchange } from './devices.js';
import { Command, Flag, sharedFloats, wrap } from './shared-memory.js';

export interface ExpertParallelOptions extends SwitchLayerOptions {
  /** D, the devices (worker threads); each holds E/D experts, so numExperts must be a multiple of D. */
  devices: number;
  /**
   * Devices that compute at once, default the machine's cores. More devices than that take turns,
   * so that each one's busy time is its own compute rather than a core shared with another.
   */
  concurrency?: number;
}

export interface DeviceStats {
  /** Rows the device received in the forward all-to-all: the kept (token, expert) routes of its experts. */
  tokens: number;
  /** Computing its experts, forward and backward. */
  busySeconds: number;
  /** Within the exchanges, waiting while slower devices computed (and rows were copied). */
  idleSeconds: number;
  bytesReceived: number;
  bytesSent: number;
}

/** What the last step (a forward, and its backward once that ran) cost on the devices. */
export interface ParallelStats {
  devices: DeviceStats[];
  /** Host wall time of the step's exchanges: rows out, experts on every device, rows back. */
  exchangeSeconds: number;
  /** Σ over the exchanges of the slowest device's busy time: the step's critical path on the devices. */
  criticalPathSeconds: number;
  /** max / mean of the devices' tokens: 1 is perfect balance, D means one device got everything. */
  loadImbalance: number;
  /** Unmasked tokens that no expert took (capacity overflow): their layer output is zero. */
  droppedTokens: number;
  /** Σ over devices of the bytes received and sent. */
  bytesMoved: number;
}

/**
 * Expert parallelism (Switch Transformer §5, Figures 7 and 9): the same layer as `SwitchLayer`,
 * with its E experts placed on D devices, E/D each. The host routes, assigns capacity and
 * dispatches exactly as the single-process layer does; an all-to-all sends each device the rows
 * of its experts, every device runs its experts at once, and a second all-to-all brings the
 * results back to be combined. In backward the output gradient takes the same trip and each device
 * runs its experts' backward, returning dX and writing dW_i, dW_o.
 *
 * The devices are worker threads; `experts.wi` and `experts.wo` live in shared memory, device d
 * reading and writing only its slice, so the parameters, their `.grad` after backward and an
 * optimizer's in-place updates work as on `SwitchLayer`. Start with `await layer.ready()`; end
 * with `await layer.close()`.
 */
export class ExpertParallelLayer extends SwitchLayer {
  private readonly group: DeviceGroup;
  private readonly shared: { wi: Float32Array | Float64Array; wo: Float32Array | Float64Array; gradWi: Float32Array | Float64Array; gradWo: Float32Array | Float64Array };
  private last: { assignment: Assignment; routesRows: number[]; exchanges: Exchange[] } | null = null;
  /** Forwards run so far; the devices keep the activations of the latest one only. */
  private forwards = 0;

  constructor(opts: ExpertParallelOptions) {
    const { devices, concurrency } = validate(opts);
    super(opts);
    const { numExperts, dModel, dFF, dtype, activation, expertDropout } = this.config;
    const wi = this.experts.wi.dataSync() as Float32Array | Float64Array, wo = this.experts.wo.dataSync() as Float32Array | Float64Array;
    this.shared = { wi, wo, gradWi: sharedFloats(dtype, wi.length), gradWo: sharedFloats(dtype, wo.length) };
    const buffer = (a: Float32Array | Float64Array) => a.buffer as SharedArrayBuffer;
    this.group = new DeviceGroup({
      devices, concurrency, numExperts, dModel, dFF, dtype, activation, expertDropout, seed: opts.seed ?? 0,
      weights: { wi: buffer(wi), wo: buffer(wo), gradWi: buffer(this.shared.gradWi), gradWo: buffer(this.shared.gradWo) },
    });
  }

  /** Resolves (to the layer) once every device has started; rejects if one could not. */
  async ready(): Promise<this> {
    await this.group.ready();
    return this;
  }

  /** Ends every device thread. */
  close(): Promise<void> {
    return this.group.close();
  }

  /** Ends one device's thread, as a crash would; the next step that needs it throws. For tests and demos of failure. */
  terminateDevice(device: number): Promise<void> {
    requireInteger('ExpertParallelLayer.terminateDevice', 'device', device, 0, this.group.count - 1);
    return this.group.terminate(device);
  }

  /** Which experts device d holds: [d·E/D, (d+1)·E/D). */
  expertsOf(device: number): number[] {
    const n = this.group.expertsPerDevice;
    return Array.from({ length: n }, (_, l) => device * n + l);
  }

  /** The per-device report of the last step: its forward, and its backward once that has run. */
  deviceStats(): ParallelStats {
    if (!this.last) throw new Error('ExpertParallelLayer.deviceStats: no step has run yet');
    const { assignment, routesRows, exchanges } = this.last;
    const devices = routesRows.map((tokens, d): DeviceStats => {
      const busySeconds = exchanges.reduce((s, x) => s + x.busySeconds[d]!, 0);
      const bytes = exchanges.reduce((s, x) => s + x.bytes[d]!, 0);
      const wall = exchanges.reduce((s, x) => s + x.wallSeconds, 0);
      return { tokens, busySeconds, idleSeconds: Math.max(0, wall - busySeconds), bytesReceived: bytes, bytesSent: bytes };
    });
    const mean = routesRows.reduce((a, b) => a + b, 0) / routesRows.length;
    return {
      devices,
      exchangeSeconds: exchanges.reduce((s, x) => s + x.wallSeconds, 0),
      criticalPathSeconds: exchanges.reduce((s, x) => s + Math.max(...x.busySeconds), 0),
      loadImbalance: mean > 0 ? Math.max(...routesRows) / mean : 1,
      droppedTokens: assignment.droppedTokens,
      bytesMoved: devices.reduce((s, d) => s + d.bytesReceived + d.bytesSent, 0),
    };
  }

  protected override createExperts(opts: ExpertsOptions): Experts {
    return new Experts({ ...opts, place: inSharedMemory });
  }

  /** The experts step on the devices: a custom op of the autodiff graph, buffers → expert outputs. */
  protected override runExperts(buffers: Tensor, assignment: Assignment, opts: FeedForwardOptions): Tensor {
    const { wi, wo } = this.experts;
    if (wi.dataSync() !== this.shared.wi || wo.dataSync() !== this.shared.wo) {
      throw new Error('ExpertParallelLayer.forward: experts.wi and experts.wo no longer live in the memory the devices share (were they moved to another backend?)');
    }
    const routes = routesByDevice(assignment, this.group.count);
    const recording = isGradEnabled() && [buffers, wi, wo].some((t) => t.requiresGrad);
    const flags = (recording ? Flag.record : 0) | ((opts.dropout ?? 0) > 0 ? Flag.dropout : 0);
    const forward = this.group.exchange('ExpertParallelLayer.forward', Command.forward, routes, floats(buffers), flags);
    const step = { assignment, routesRows: routes.map((r) => r.slots.length), exchanges: [forward] };
    this.last = step;
    const id = ++this.forwards;
    return record('expertsOnDevices', wrap(forward.values, buffers.shape), [buffers, wi, wo], (grad) => {
      // Each device keeps one forward's activations; differentiating an older one would silently
      // mix two steps.
      if (id !== this.forwards) {
        throw new Error(`ExpertParallelLayer.backward: this output comes from forward ${id}, but the devices hold the activations of forward ${this.forwards}; run backward before the next forward`);
      }
      const backward = this.group.exchange('ExpertParallelLayer.backward', Command.backward, routes, floats(grad), 0);
      step.exchanges.push(backward);
      return [wrap(backward.values, buffers.shape), wrap(this.shared.gradWi, wi.shape), wrap(this.shared.gradWo, wo.shape)];
    });
  }
}

const floats = (t: Tensor): Float32Array | Float64Array => t.dataSync() as Float32Array | Float64Array;

/** Moves an initialized weight into shared memory, where the devices read it. */
function inSharedMemory(weight: Tensor): Tensor {
  const values = sharedFloats(weight.dtype === 'float64' ? 'float64' : 'float32', weight.size);
  values.set(weight.dataSync());
  weight.dispose();
  return wrap(values, weight.shape);
}

function validate(opts: ExpertParallelOptions): { devices: number; concurrency: number } {
  const op = 'ExpertParallelLayer';
  if (typeof opts !== 'object' || opts === null) throw new Error(`${op}: options must be an object`);
  const { devices, numExperts, concurrency = availableParallelism() } = opts;
  requireInteger(op, 'devices', devices, 1);
  requireInteger(op, 'numExperts', numExperts, 1);
  requireInteger(op, 'concurrency', concurrency, 1);
  if (numExperts % devices !== 0) {
    throw new Error(`${op}: numExperts = ${numExperts} is not divisible by devices = ${devices}: each device holds E/D experts`);
  }
  return { devices, concurrency };
}
