/**
 * One device of the expert-parallel layer: a worker thread holding E/D experts' weights (its slice
 * of the shared W_i, W_o). It sleeps on its command word; on a forward it runs each of its experts
 * on the rows the all-to-all delivered, on a backward it sends dX back and writes its experts'
 * dW_i, dW_o. The math is the single-process layer's own `feedForward` and autodiff, so results
 * match it exactly.
 */
import { receiveMessageOnPort, workerData, type MessagePort } from 'node:worker_threads';
import { Rng, fromArray, noGrad, tensor, type Tensor } from '@switch-ts/tensor';
import type { FloatDType } from '../checks.js';
import { feedForward, type Activation } from '../feed-forward.js';
import { Command, ControlBlock, Flag, PENDING, READY, floatArray } from './shared-memory.js';

export interface DeviceInit {
  device: number;
  devices: number;
  expertsPerDevice: number;
  concurrency: number;
  control: SharedArrayBuffer;
  /** Float64 per device: seconds of compute in its last command. */
  busy: SharedArrayBuffer;
  /** W_i, W_o of all E experts and their gradients; the device touches only its own slice. */
  weights: { wi: SharedArrayBuffer; wo: SharedArrayBuffer; gradWi: SharedArrayBuffer; gradWo: SharedArrayBuffer };
  dModel: number;
  dFF: number;
  dtype: FloatDType;
  activation: Activation;
  expertDropout: number;
  seed: number;
  /** Larger row buffers arrive here, posted by the host before the command that needs them. */
  mailbox: MessagePort;
}

const init = workerData as DeviceInit;
const { device, expertsPerDevice: L, dModel, dFF, dtype } = init;
const control = new ControlBlock(init.devices, L, init.concurrency, init.control);
const busy = new Float64Array(init.busy);
const rng = new Rng(init.seed + 1 + device);

const slice = (buffer: SharedArrayBuffer, l: number, size: number) => floatArray(dtype, buffer, (device * L + l) * size, size);
const experts = Array.from({ length: L }, (_, l) => {
  const wi = fromArray(slice(init.weights.wi, l, dModel * dFF), [dModel, dFF]);
  const wo = fromArray(slice(init.weights.wo, l, dFF * dModel), [dFF, dModel]);
  wi.requiresGrad = wo.requiresGrad = true;
  return { wi, wo, gradWi: slice(init.weights.gradWi, l, dModel * dFF), gradWo: slice(init.weights.gradWo, l, dFF * dModel) };
});

let inbox = floatArray(dtype, new SharedArrayBuffer(0));
let outbox = inbox;
/** Each expert's input and output of the last forward, kept for its backward. */
let graph: ({ x: Tensor; y: Tensor } | null)[] = [];

/** Where expert l's rows sit in the inbox and outbox: after the rows of the experts before it. */
function rowRanges(): { start: number; rows: number }[] {
  let start = 0;
  return experts.map((_, l) => {
    const rows = Atomics.load(control.words, control.rows(device, l));
    const range = { start: start * dModel, rows };
    start += rows;
    return range;
  });
}

function forward(flags: number): void {
  const record = (flags & Flag.record) !== 0;
  const dropout = (flags & Flag.dropout) !== 0 ? init.expertDropout : 0;
  graph = rowRanges().map(({ start, rows }, l) => {
    if (rows === 0) return null;
    const x = tensor(inbox.subarray(start, start + rows * dModel), { shape: [rows, dModel], dtype, requiresGrad: record });
    const run = () => feedForward(x, experts[l]!.wi, experts[l]!.wo, { activation: init.activation, dropout, rng });
    const y = record ? run() : noGrad(run);
    outbox.set(y.dataSync(), start);
    return { x, y };
  });
}

function backward(): void {
  rowRanges().forEach(({ start, rows }, l) => {
    const e = experts[l]!, g = graph[l];
    // An expert that received no token has zero weight gradients, as in the single-process layer.
    if (!g) return void (e.gradWi.fill(0), e.gradWo.fill(0));
    g.y.backward(tensor(inbox.subarray(start, start + rows * dModel), { shape: [rows, dModel], dtype }));
    outbox.set(g.x.grad!.dataSync(), start);
    e.gradWi.set(e.wi.grad!.dataSync());
    e.gradWo.set(e.wo.grad!.dataSync());
    for (const t of [g.x, e.wi, e.wo]) t.zeroGrad();
  });
}

const commandWord = control.command(device);
Atomics.add(control.words, READY, 1);
// Until the thread is terminated: by close(), which ends the supervisor and its devices with it.
for (;;) {
  Atomics.wait(control.words, commandWord, Command.idle);
  const command = Atomics.load(control.words, commandWord);
  for (let m = receiveMessageOnPort(init.mailbox); m; m = receiveMessageOnPort(init.mailbox)) {
    const rows = m.message as SharedArrayBuffer;
    inbox = floatArray(dtype, rows, 0, rows.byteLength / (2 * (dtype === 'float64' ? 8 : 4)));
    outbox = floatArray(dtype, rows, inbox.length);
  }
  control.acquireSlot(device);
  const started = performance.now();
  if (command === Command.forward) forward(Atomics.load(control.words, control.flags(device)));
  else backward();
  busy[device] = (performance.now() - started) / 1000;
  control.releaseSlot(device);
  Atomics.store(control.words, commandWord, Command.idle);
  if (Atomics.sub(control.words, PENDING, 1) === 1) Atomics.notify(control.words, PENDING);
}
