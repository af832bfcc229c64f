import { fromArray, isGradEnabled, record, type Tensor } from '@switch-ts/tensor';
import type { Assignment } from '../capacity.js';
import type { ExpertRunner, Experts } from '../experts.js';
import type { FeedForwardOptions } from '../feed-forward.js';
import { routesByDevice } from './all-to-all.js';
import { DeviceGroup, type DeviceGroupOptions, type Exchange } from './devices.js';
import { Command, Flag, requireCpuBackend, sharedFloats } from './shared-memory.js';

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

type Floats = Float32Array | Float64Array;

/**
 * The expert runner of `ExpertParallelLayer`: E experts on D devices (worker threads), E/D each.
 * W_i, W_o and their gradients live in shared memory, allocated here before the layer initializes
 * them, so that the devices start at once and the layer's parameters are the very memory they read.
 */
export class DeviceRunner implements ExpertRunner {
  readonly group: DeviceGroup;
  /**
   * The parameters `place` hands to the layer: tensors over `shared.wi` and `shared.wo` without a
   * copy (on the cpu backend a tensor's storage is its typed array), so that a weight is one and
   * the same on the host and on its device: an optimizer's in-place update on the host is what the
   * device computes with next.
   */
  private readonly weights: { wi: Tensor; wo: Tensor };
  private readonly shared: { wi: Floats; wo: Floats; gradWi: Floats; gradWo: Floats };
  private last: { assignment: Assignment; routesRows: number[]; exchanges: Exchange[] } | null = null;
  /** Forwards run so far; the devices keep the activations of the latest one only. */
  private forwards = 0;

  constructor(opts: Omit<DeviceGroupOptions, 'weights'>) {
    const { numExperts: E, dModel, dFF, dtype } = opts;
    const floats = (): Floats => sharedFloats(dtype, E * dModel * dFF);
    this.shared = { wi: floats(), wo: floats(), gradWi: floats(), gradWo: floats() };
    requireCpuBackend('ExpertParallelLayer');
    this.weights = { wi: fromArray(this.shared.wi, [E, dModel, dFF]), wo: fromArray(this.shared.wo, [E, dFF, dModel]) };
    const buffer = (a: Floats): SharedArrayBuffer => a.buffer as SharedArrayBuffer;
    const { wi, wo, gradWi, gradWo } = this.shared;
    this.group = new DeviceGroup({ ...opts, weights: { wi: buffer(wi), wo: buffer(wo), gradWi: buffer(gradWi), gradWo: buffer(gradWo) } });
  }

  /** Copies the layer's initialized weight into shared memory and hands back the tensor over it. */
  place(weight: Tensor, name: 'wi' | 'wo'): Tensor {
    this.shared[name].set(weight.dataSync());
    weight.dispose();
    return this.weights[name];
  }

  /**
   * Throws, naming `op`, unless a step can run: the cpu backend, the weights still in the memory
   * the devices share, the devices started and alive. Only reads: a refused step changes nothing.
   */
  requireUsable(op: string, experts: Experts): void {
    requireCpuBackend(op);
    if (experts.wi.dataSync() !== this.shared.wi || experts.wo.dataSync() !== this.shared.wo) {
      throw new Error(`${op}: experts.wi and experts.wo no longer live in the memory the devices share: an op ran on them under another backend, which moved them there`);
    }
    this.group.requireReady(op);
  }

  /** The experts step on the devices (the layer checked `requireUsable`): a custom op of the autodiff graph, buffers → expert outputs. */
  run(experts: Experts, buffers: Tensor, opts: FeedForwardOptions, assignment: Assignment): Tensor {
    const { wi, wo } = experts;
    const routes = routesByDevice(assignment, this.group.count);
    const recording = isGradEnabled() && [buffers, wi, wo].some((t) => t.requiresGrad);
    const flags = (recording ? Flag.record : 0) | ((opts.dropout ?? 0) > 0 ? Flag.dropout : 0);
    const forward = this.group.exchange('ExpertParallelLayer.forward', Command.forward, routes, floats(buffers), flags);
    const step = { assignment, routesRows: routes.map((r) => r.slots.length), exchanges: [forward] };
    this.last = step;
    const id = ++this.forwards;
    return record('expertsOnDevices', fromArray(forward.values, buffers.shape), [buffers, wi, wo], (grad) => {
      // Each device keeps one forward's activations; differentiating an older one would silently
      // mix two steps.
      if (id !== this.forwards) {
        throw new Error(`ExpertParallelLayer.backward: this output comes from forward ${id}, but the devices hold the activations of forward ${this.forwards}; run backward before the next forward`);
      }
      this.requireUsable('ExpertParallelLayer.backward', experts);
      const backward = this.group.exchange('ExpertParallelLayer.backward', Command.backward, routes, floats(grad), 0);
      step.exchanges.push(backward);
      return [fromArray(backward.values, buffers.shape), fromArray(this.shared.gradWi, wi.shape), fromArray(this.shared.gradWo, wo.shape)];
    });
  }

  /** The per-device report of the last step: its forward, and its backward once that has run. */
  stats(): ParallelStats {
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
}

const floats = (t: Tensor): Floats => t.dataSync() as Floats;
