import { availableParallelism } from 'node:os';
import type { Tensor } from '@switch-ts/tensor';
import { requireInteger } from '../checks.js';
import { SwitchLayer, expertLayout, switchLayerConfig, type SwitchLayerOptions, type SwitchOutput } from '../switch-layer.js';
import { DeviceRunner, type ParallelStats } from './device-runner.js';

/** Every `SwitchLayerOptions` field but `expertRunner`: the devices are this layer's runner. */
export interface ExpertParallelOptions extends Omit<SwitchLayerOptions, 'expertRunner'> {
  /** D, the devices (worker threads); each holds E/D experts, so numExperts must be a multiple of D. */
  devices: number;
  /**
   * Devices that compute at once, default the machine's cores. More devices than that take turns,
   * so that each one's busy time is its own compute rather than a core shared with another.
   */
  concurrency?: number;
}

/**
 * Expert parallelism (Switch Transformer §5, Figures 7 and 9): the same layer as `SwitchLayer`,
 * with its E experts placed on D devices, E/D each. The host routes, assigns capacity and
 * dispatches exactly as the single-process layer does; an all-to-all sends each device the rows
 * of its experts, every device runs its experts at once, and a second all-to-all brings the
 * results back to be combined. In backward the output gradient takes the same trip and each device
 * runs its experts' backward, returning dX and writing dW_i, dW_o. It is a `SwitchLayer` whose
 * `expertRunner` is a `DeviceRunner`: only the experts step differs.
 *
 * The devices are worker threads; `experts.wi` and `experts.wo` live in shared memory, device d
 * reading and writing only its slice, so the parameters, their `.grad` after backward and an
 * optimizer's in-place updates work as on `SwitchLayer`. Start with `await layer.ready()`; end
 * with `await layer.close()`.
 */
export class ExpertParallelLayer extends SwitchLayer {
  private readonly devices: DeviceRunner;

  constructor(opts: ExpertParallelOptions) {
    const { devices, concurrency } = validate(opts);
    // The runner exists before the layer, which places its initialized experts in the runner's memory.
    // The devices hold the routed experts; shared experts (DeepSeekMoE) run on the host, outside the routing.
    const config = switchLayerConfig(opts);
    const { routedExperts: numExperts, expertDFF: dFF } = expertLayout(config);
    if (numExperts !== config.numExperts && numExperts % devices !== 0) {
      const { expertSegments: m, numExperts: N, sharedExperts: shared } = config;
      throw new Error(`ExpertParallelLayer: the ${numExperts} routed experts (expertSegments · numExperts − sharedExperts = ${m} · ${N} − ${shared}) are not divisible by devices = ${devices}: each device holds an equal share`);
    }
    const { dModel, dtype, activation, expertDropout } = config;
    const runner = new DeviceRunner({ devices, concurrency, numExperts, dModel, dFF, dtype, activation, expertDropout, seed: opts.seed ?? 0 });
    super({ ...opts, expertRunner: runner });
    this.devices = runner;
  }

  /** `SwitchLayer.forward`, once the checks that the devices can take the step have passed (they change nothing). */
  override forward(x: Tensor, opts: { mask?: Tensor } = {}): SwitchOutput {
    this.devices.requireUsable('ExpertParallelLayer.forward', this.experts);
    return super.forward(x, opts);
  }

  /** Resolves (to the layer) once every device has started; rejects if one could not, or after close(). */
  async ready(): Promise<this> {
    await this.devices.group.ready();
    return this;
  }

  /** Ends every thread; later steps, and ready(), throw. */
  close(): Promise<void> {
    return this.devices.group.close();
  }

  /**
   * Ends one device's thread, as a crash would; the next step that needs it throws. Resolves once
   * the layer has noticed, or once close() has ended every thread. For tests and demos of failure.
   */
  terminateDevice(device: number): Promise<void> {
    requireInteger('ExpertParallelLayer.terminateDevice', 'device', device, 0, this.devices.group.count - 1);
    return this.devices.group.terminate(device);
  }

  /** Ends the supervisor thread, and every device with it, as a crash would; the next step throws. For tests. */
  terminateSupervisor(): Promise<void> {
    return this.devices.group.terminateSupervisor();
  }

  /** Which experts device d holds: [d·E/D, (d+1)·E/D). */
  expertsOf(device: number): number[] {
    const n = this.devices.group.expertsPerDevice;
    return Array.from({ length: n }, (_, l) => device * n + l);
  }

  /** The per-device report of the last step: its forward, and its backward once that has run. */
  deviceStats(): ParallelStats {
    return this.devices.stats();
  }
}

function validate(opts: ExpertParallelOptions): { devices: number; concurrency: number } {
  const op = 'ExpertParallelLayer';
  if (typeof opts !== 'object' || opts === null) throw new Error(`${op}: options must be an object`);
  const { devices, numExperts, concurrency = availableParallelism() } = opts;
  requireInteger(op, 'devices', devices, 1);
  requireInteger(op, 'numExperts', numExperts, 1);
  requireInteger(op, 'concurrency', concurrency, 1);
  if (opts.padToCapacity === false) {
    throw new Error(`${op}: padToCapacity: false does not apply: the devices already compute only the filled slots (empty slots neither travel nor run), so their FLOPs follow the routed tokens`);
  }
  const fineGrained = (opts.expertSegments ?? 1) !== 1 || (opts.sharedExperts ?? 0) !== 0;
  if (!fineGrained && numExperts % devices !== 0) {
    throw new Error(`${op}: numExperts = ${numExperts} is not divisible by devices = ${devices}: each device holds E/D experts`);
  }
  return { devices, concurrency };
}
