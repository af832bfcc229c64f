import { SwitchLayer } from '@switch-ts/switch';
import { Embedding, Rng, noGrad, profile, randn, tensor, tidy, type Tensor } from '@switch-ts/tensor';
import type { LanguageModel } from '../../examples/demo/model.js';
import type { ModelCost } from './cost.js';
import type { ComputeRequest, ComputeResults, ModelName, TrainKnobs } from './protocol.js';
import { routeShape, textVocab, tokenize, type RouteKnobs, type RouteResult } from './route.js';
import { corpusFor, modelsFor, trainShape } from './training.js';

/**
 * The page's numbers other than training's: the route view's forward pass and the cost table.
 * Only the worker imports this module (and the browser test, to compute the same in Node), so that
 * the page's bundle holds no tensor code.
 */

/** Answers one of the page's compute requests. */
export function compute<R extends ComputeRequest>(request: R): ComputeResults[R['kind']] {
  const result = request.kind === 'route' ? computeRoute(request.knobs) : modelCosts(request.knobs);
  return result as ComputeResults[R['kind']];
}

export function layerFor(k: RouteKnobs): SwitchLayer {
  const { dModel, dFF } = routeShape;
  return new SwitchLayer({
    dModel, dFF, numExperts: k.numExperts, topK: k.topK, capacityFactor: k.capacityFactor, routing: k.routing, seed: k.seed,
  });
}

/**
 * The batch [1, S, dModel]: random vectors, or each character's row of an embedding table drawn
 * with the seed. The router sees only that row, so equal characters get equal routes, up to capacity.
 */
export function inputFor(k: RouteKnobs): Tensor {
  const rng = new Rng(k.seed + 1);
  if (k.text === '') return randn([1, routeShape.tokens, routeShape.dModel], rng);
  const embedding = new Embedding(textVocab.size, routeShape.dModel, { rng });
  return embedding.forward(tensor([tokenize(k.text)], { dtype: 'int32' }));
}

function rows(data: ArrayLike<number>, width: number): number[][] {
  const all = Array.from(data);
  return Array.from({ length: all.length / width }, (_, i) => all.slice(i * width, (i + 1) * width));
}

export function computeRoute(k: RouteKnobs): RouteResult {
  return tidy(() => {
    const layer = layerFor(k);
    const x = inputFor(k);
    const { output, auxLoss, routing, stats } = layer.forward(x);
    // The layer returns neither logits nor gates; its router is deterministic without jitter, so ask it again.
    const router = layer.router.forward(x, { topK: k.topK });
    const E = k.numExperts, S = x.shape[1]!;
    const a = routing.assignment;
    const gates = (a.gateSource === 'gates' ? router.gates : routing.probs).dataSync();
    const slots = Array.from({ length: E }, () => new Array<number | null>(a.capacity).fill(null));
    const kept = Array.from({ length: S }, () => [] as { expert: number; gate: number }[]);
    a.token.forEach((token, i) => {
      const expert = Math.floor(a.slot[i]! / a.capacity);
      slots[expert]![a.slot[i]! % a.capacity] = token;
      kept[token]!.push({ expert, gate: gates[a.gate[i]!]! });
    });
    return {
      logits: rows(router.logits.dataSync(), E),
      probs: rows(routing.probs.dataSync(), E),
      choices: rows(routing.expertIndex.dataSync(), k.topK),
      capacity: a.capacity,
      slots,
      kept,
      dropped: kept.flatMap((routes, s) => (routes.length === 0 ? [s] : [])),
      outputNorms: rows(output.dataSync(), routeShape.dModel).map((r) => Math.hypot(...r)),
      balanceLoss: stats.balanceLoss,
      zLoss: stats.zLoss,
      auxLoss: auxLoss.item(),
      routerEntropy: stats.routerEntropy,
    };
  });
}

/**
 * A token goes through every parameter but the experts it is not routed to: of each switch
 * layer's routed experts (equal blocks of W_in and W_out) it uses k of E. Shared experts, the
 * router, attention and embeddings serve every token.
 */
function activeParameters(model: LanguageModel): number {
  const unused = model.switchLayers().reduce((n, layer) => {
    const { routedExperts, routedTopK } = layer.layout;
    const experts = layer.experts.parameters().reduce((a, p) => a + p.size, 0);
    return n + experts * (1 - routedTopK / routedExperts);
  }, 0);
  return model.parameterCount() - unused;
}

/**
 * The live run's two models at these knobs, measured as the demo measures its runs (train.ts
 * `evaluate`): forward FLOPs profiled on one held-out batch, in training mode, divided by its
 * tokens. With padded experts (the default) the FLOPs do not depend on the batch's tokens, only
 * on the capacity: the experts compute all E·C slots, the empty ones too.
 */
export function modelCosts(knobs: TrainKnobs): Record<ModelName, ModelCost> {
  // One tidy frees the models' weights and the batch along with the intermediates: only numbers leave.
  return noGrad(() => tidy(() => {
    const corpus = corpusFor(knobs);
    const models = modelsFor(knobs, corpus.vocabSize);
    const batch = corpus.batch(trainShape.batchSize, trainShape.model.seqLen, new Rng(knobs.seed + 2), true);
    const tokens = batch.groups.length;
    const cost = (model: LanguageModel): ModelCost => {
      let switchFlops = 0;
      const { flops } = profile(() => { switchFlops = model.forward(batch.inputs).switchFlops; });
      return { total: model.parameterCount(), active: activeParameters(model), flopsPerToken: flops / tokens, switchFlopsPerToken: switchFlops / tokens };
    };
    return { switch: cost(models.switch), dense: cost(models.dense) };
  }));
}
