import { requireFloat } from '../ops/kernel.js';
import { fmt } from '../shape.js';
import { Tensor } from '../tensor.js';

type Child = Module | readonly Module[];

/**
 * The base of layers and models, like torch.nn.Module. A subclass registers its parameters with
 * `param` and its sub-modules with `module` in its constructor. Registration is explicit (rather
 * than a scan of the fields) so that a module can hold other tensors — masks, caches, a weight it
 * borrows from another module — without their becoming parameters.
 */
export abstract class Module {
  /** Training mode (the default) or evaluation mode; Dropout acts only in training mode. */
  training = true;
  private readonly ownParams = new Map<string, Tensor>();
  private readonly children = new Map<string, Child>();

  /** Registers a float leaf tensor as a parameter (it now requires grad) and returns it. */
  protected param(name: string, t: Tensor): Tensor {
    this.checkName(name);
    const where = `${this.constructor.name}.param('${name}')`;
    if (!(t instanceof Tensor)) throw new Error(`${where}: expected a Tensor, got ${typeof t}`);
    requireFloat(where, t);
    if (t.gradNode) throw new Error(`${where}: a parameter must be a leaf tensor (from an initializer or tensor()), not the output of an op`);
    t.requiresGrad = true;
    this.ownParams.set(name, t);
    return t;
  }

  /** Registers a sub-module, or an array of them (named `name.0`, `name.1`, …), and returns it. */
  protected module<M extends Child>(name: string, m: M): M {
    this.checkName(name);
    const list: readonly unknown[] = m instanceof Module ? [m] : m;
    if (!list.every((c) => c instanceof Module)) {
      throw new Error(`${this.constructor.name}.module('${name}'): expected a Module or an array of Modules`);
    }
    this.children.set(name, m);
    return m;
  }

  /**
   * Every parameter under its dotted path (`layers.0.weight`): a module's own parameters first,
   * then its children's in registration order. A tensor shared by two modules is listed once,
   * under its first name, as in PyTorch, so that an optimizer updates it once.
   */
  namedParameters(): Map<string, Tensor> {
    const named = new Map<string, Tensor>();
    const seen = new Set<Tensor>();
    const visit = (m: Module, prefix: string): void => {
      for (const [name, t] of m.ownParams) {
        if (seen.has(t)) continue;
        seen.add(t);
        named.set(prefix + name, t);
      }
      for (const [name, child] of m.namedChildren()) visit(child, `${prefix}${name}.`);
    };
    visit(this, '');
    return named;
  }

  parameters(): Tensor[] {
    return [...this.namedParameters().values()];
  }

  /** Sets training mode on this module and every module under it. */
  train(mode = true): this {
    this.training = mode;
    for (const [, child] of this.namedChildren()) child.train(mode);
    return this;
  }

  eval(): this {
    return this.train(false);
  }

  zeroGrad(): void {
    for (const p of this.parameters()) p.zeroGrad();
  }

  /** Fails with the layer's name, rather than deep inside an op, unless x is [..., features]. */
  protected checkFeatures(x: Tensor, features: number): void {
    if (!(x instanceof Tensor) || x.shape[x.rank - 1] !== features) {
      const got = x instanceof Tensor ? `shape ${fmt(x.shape)}` : typeof x;
      throw new Error(`${this.constructor.name}: expected an input of shape [..., ${features}], got ${got}`);
    }
  }

  private namedChildren(): [string, Module][] {
    return [...this.children].flatMap(([name, m]): [string, Module][] =>
      m instanceof Module ? [[name, m]] : m.map((c, i): [string, Module] => [`${name}.${i}`, c]));
  }

  private checkName(name: string): void {
    if (typeof name !== 'string' || name === '' || name.includes('.')) {
      throw new Error(`${this.constructor.name}: '${name}' is not a valid name (non-empty, without dots)`);
    }
    if (this.ownParams.has(name) || this.children.has(name)) {
      throw new Error(`${this.constructor.name}: '${name}' is already registered`);
    }
  }
}
