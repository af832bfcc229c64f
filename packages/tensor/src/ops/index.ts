export { arange, full, ones, onesLike, rand, randn, zeros, zerosLike } from './creation.js';
export { dropout } from './dropout.js';
export {
  abs, add, broadcastTo, cast, div, eq, exp, ge, gelu, gt, le, log, lt, maximum, minimum, mul, ne, neg, pow, relu,
  sigmoid, sqrt, square, sub, tanh, where,
} from './elementwise.js';
export { gather, indexAdd, oneHot, scatterAdd, takeAlongAxis, topk } from './indexing.js';
export { requireFloat } from './kernel.js';
export { matmul, matmulTransposed } from './matmul.js';
export { argmax, argmin, max, mean, min, sum, sumTo } from './reduce.js';
export { concat, reshape, slice, squeeze, stack, transpose, unsqueeze } from './shape.js';
export { crossEntropy, logSoftmax, logsumexp, softmax } from './softmax.js';
