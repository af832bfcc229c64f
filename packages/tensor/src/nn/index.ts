/** Layers and models: a Module tree of parameters, the layers built on it, and initializers. */
export { Module } from './module.js';
export { Linear, type LinearOptions } from './linear.js';
export { Embedding } from './embedding.js';
export { LayerNorm, RMSNorm, type NormOptions } from './norm.js';
export { Dropout } from './dropout.js';
export * as init from './init.js';
