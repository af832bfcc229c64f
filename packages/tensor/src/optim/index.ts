/** Optimizers (one shared step routine, one update rule each) and gradient clipping. */
export { Optimizer, type ParamState } from './optimizer.js';
export { SGD, type SGDOptions } from './sgd.js';
export { Adam, AdamW, type AdamOptions, type AdamWOptions } from './adam.js';
export { clipGradNorm } from './clip.js';
