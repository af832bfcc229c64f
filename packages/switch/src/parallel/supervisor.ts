/**
 * The devices' parent thread. The host blocks in Atomics.wait during a step, so it cannot hear a
 * worker's 'exit' event; this thread's event loop stays free to hear it, marks the device failed
 * in shared memory and wakes the host, which then throws instead of waiting forever. Its own
 * death would leave nobody to tell the host, so it ticks a heartbeat the host watches while it waits.
 */
import { workerData, type MessagePort } from 'node:worker_threads';
import { ControlBlock, HEARTBEAT, HEARTBEAT_MS } from './shared-memory.js';
import type { DeviceInit } from './device-worker.js';
import { startWorker } from './threads.js';

export interface SupervisorInit {
  devices: DeviceInit[];
  /** To the host: failures, read with receiveMessageOnPort; from the host: terminate requests. */
  host: MessagePort;
}

/** A request from the host: end one device, as a crash would. (Closing ends this thread, and its devices with it.) */
export interface SupervisorRequest { terminate: number }
export interface DeviceFailure { device: number; message: string }

const { devices, host } = workerData as SupervisorInit;
const first = devices[0]!;
const control = new ControlBlock(first.devices, first.expertsPerDevice, first.concurrency, first.control);

setInterval(() => Atomics.add(control.words, HEARTBEAT, 1), HEARTBEAT_MS);

const workers = devices.map((init) => {
  const worker = startWorker('device-worker', { workerData: init, transferList: [init.mailbox] });
  let reason: string | undefined;
  worker.on('error', (e) => { reason = e.message; });
  worker.on('exit', (code) => {
    const failure: DeviceFailure = { device: init.device, message: reason ?? `its worker exited with code ${code}` };
    host.postMessage(failure);
    control.fail(init.device);
  });
  return worker;
});

host.on('message', (request: SupervisorRequest) => void workers[request.terminate]?.terminate());
