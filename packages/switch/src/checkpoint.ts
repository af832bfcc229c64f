import type { SafetensorsEntry } from '@switch-ts/tensor';
import type { SwitchLayer } from './switch-layer.js';

/**
 * The layout of a switch layer's parameters under the names of Hugging Face transformers'
 * SwitchTransformersSparseMLP (modeling_switch_transformers.py): `router.classifier.weight` of its
 * SwitchTransformersTop1Router, and `experts.expert_{i}.wi.weight`, `experts.expert_{i}.wo.weight`
 * of each SwitchTransformersDenseActDense. Their nn.Linear weights are [out, in], the transposes of
 * ours: router.weight [dModel, E] is classifier.weight [E, dModel]; expert i of experts.wi
 * [E, dModel, dFF] is wi.weight [dFF, dModel], of experts.wo [E, dFF, dModel] is wo.weight
 * [dModel, dFF]. `prefix` is where the MLP sits in the Hugging Face model, such as
 * 'encoder.block.1.layer.1.mlp.'. For `saveSafetensors` / `loadSafetensors(layer, path, { layout })`.
 */
export function switchTransformersLayout(layer: SwitchLayer, prefix = ''): SafetensorsEntry[] {
  const { expertSegments, sharedExperts } = layer.config;
  if (expertSegments !== 1 || sharedExperts !== 0) {
    // SwitchTransformersSparseMLP has N experts of d_ff and no shared ones: there is no name for the rest.
    throw new Error(`switchTransformersLayout: a layer with expertSegments = ${expertSegments} and sharedExperts = ${sharedExperts} has no SwitchTransformersSparseMLP layout (that model has numExperts experts of dFF and no shared experts); save it under its own parameter names`);
  }
  const experts = Array.from({ length: layer.config.numExperts }, (_, i) => i);
  return [
    { name: `${prefix}router.classifier.weight`, parameter: 'router.weight', transpose: true },
    ...experts.flatMap((i) => (['wi', 'wo'] as const).map((w) => ({
      name: `${prefix}experts.expert_${i}.${w}.weight`, parameter: `experts.${w}`, index: i, transpose: true,
    }))),
  ];
}
