/**
 * @switch-ts/switch: the Switch Transformer's mixture-of-experts layer (Fedus, Zoph & Shazeer 2021)
 * and the classic top-k MoE it simplifies, step by step:
 * route → assignCapacity → dispatch → experts → combine → losses.
 */
export { Router, route, type RouteOptions, type RouterOutput } from './router.js';
export { assignCapacity, expertCapacity, routingModes, type Assignment, type RoutingMode } from './capacity.js';
export { dispatch } from './dispatch.js';
export { Experts, experts, packedExperts, type ExpertRunner } from './experts.js';
export { feedForward, type Activation, type FeedForwardOptions } from './feed-forward.js';
export { combine } from './combine.js';
export { balanceScopes, loadBalancingLoss, routerZLoss, type BalanceScope } from './losses.js';
export { expertLoad, updatedBias } from './loss-free.js';
export {
  SwitchLayer, balanceModes, expertLayout, type BalanceMode, type ExpertLayout, type SwitchLayerOptions, type SwitchOutput, type SwitchStats,
} from './switch-layer.js';
export { DenseFFN, type DenseFFNOptions } from './dense-ffn.js';
export type { FloatDType } from './checks.js';
export { switchTransformersLayout } from './checkpoint.js';
