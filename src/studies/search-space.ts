import type { Rng } from '../engine/random.js';
import type { SearchParam, SearchSpace } from '../spec/study-spec.js';

/** The values of one trial, by spec path. */
export type TrialParams = Record<string, unknown>;

export class ParamPathError extends Error {
  constructor(
    readonly path: string,
    message: string,
  ) {
    super(message);
  }
}

/** `model.layers[1].rate` → ['model', 'layers', 1, 'rate']. */
export function pathSegments(path: string): (string | number)[] {
  const segments: (string | number)[] = [];
  for (const match of path.matchAll(/([A-Za-z][A-Za-z0-9]*)|\[(\d+)\]/g)) segments.push(match[1] ?? Number(match[2]));
  return segments;
}

const isPlainObject = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null && !Array.isArray(value);

/**
 * The base spec with each value put at its path (shorter paths first, so `optimizer` is chosen
 * before `optimizer.momentum` is set inside it). A name standing for a config (`"adam"`) becomes
 * `{type: "adam"}` when a field is set inside it. Keys that do not exist are created: the job spec
 * schema then says whether the field exists.
 */
export function applyParams(base: Record<string, unknown>, params: TrialParams): Record<string, unknown> {
  const spec = structuredClone(base);
  const paths = Object.keys(params).sort((a, b) => pathSegments(a).length - pathSegments(b).length || (a < b ? -1 : 1));
  for (const path of paths) {
    const segments = pathSegments(path);
    let node: unknown = spec;
    for (let i = 0; i < segments.length - 1; i++) {
      const segment = segments[i]!;
      const container = node as Record<string | number, unknown>;
      // Own keys only: `constructor.prototype.x` must create keys, never walk into a prototype.
      let child = Object.hasOwn(container, segment) ? container[segment] : undefined;
      if (typeof segment === 'number') {
        if (!Array.isArray(node) || segment >= node.length) throw new ParamPathError(path, `${pathOf(segments, i)} has no item ${segment}`);
      } else if (!isPlainObject(node)) {
        throw new ParamPathError(path, `${pathOf(segments, i)} is not an object`);
      }
      if (typeof child === 'string' && typeof segments[i + 1] === 'string') child = container[segment] = { type: child };
      else if (child === undefined && typeof segments[i + 1] === 'string') child = container[segment] = {};
      else if (child === undefined || child === null || typeof child !== 'object') throw new ParamPathError(path, `${pathOf(segments, i + 1)} is not an object or a list`);
      node = child;
    }
    const last = segments.at(-1)!;
    if (typeof last === 'number' && (!Array.isArray(node) || last >= node.length)) throw new ParamPathError(path, `${pathOf(segments, segments.length - 1)} has no item ${last}`);
    if (typeof last === 'string' && !isPlainObject(node)) throw new ParamPathError(path, `${pathOf(segments, segments.length - 1)} is not an object`);
    Object.defineProperty(node, last, { value: structuredClone(params[path]), enumerable: true, writable: true, configurable: true });
  }
  return spec;
}

function pathOf(segments: (string | number)[], end: number): string {
  if (end === 0) return 'the spec';
  return segments.slice(0, end).reduce<string>((text, segment) => (typeof segment === 'number' ? `${text}[${segment}]` : text ? `${text}.${segment}` : segment), '');
}

/** One draw from a parameter's distribution. */
export function drawParam(param: SearchParam, rng: Rng): unknown {
  switch (param.type) {
    case 'uniform':
      return param.low + rng() * (param.high - param.low);
    case 'logUniform':
      return Math.exp(Math.log(param.low) + rng() * (Math.log(param.high) - Math.log(param.low)));
    case 'int':
      if (param.log) return Math.min(param.high, Math.floor(Math.exp(Math.log(param.low) + rng() * (Math.log(param.high + 1) - Math.log(param.low)))));
      return param.low + Math.floor(rng() * (param.high - param.low + 1));
    case 'choice':
      return structuredClone(param.values[Math.floor(rng() * param.values.length)]);
  }
}

/** One point of the space; the parameters are drawn in their path order, so a point depends only on the rng. */
export function drawPoint(space: SearchSpace, rng: Rng): TrialParams {
  return Object.fromEntries(sortedEntries(space).map(([path, param]) => [path, drawParam(param, rng)]));
}

const sortedEntries = (space: SearchSpace) => Object.entries(space).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));

/** Grid search's points: every combination of the (choice and int) parameters' values, in a fixed order. */
export function gridPoints(space: SearchSpace): TrialParams[] {
  let points: TrialParams[] = [{}];
  for (const [path, param] of sortedEntries(space)) {
    const values = gridValues(param);
    if (!values) throw new ParamPathError(path, `grid search takes every value of a parameter: make it a choice (it is ${param.type})`);
    points = points.flatMap((point) => values.map((value) => ({ ...point, [path]: structuredClone(value) })));
  }
  return points;
}

function gridValues(param: SearchParam): unknown[] | null {
  if (param.type === 'choice') return param.values;
  if (param.type === 'int' && param.high - param.low < 100) return Array.from({ length: param.high - param.low + 1 }, (_, i) => param.low + i);
  return null;
}

/** How many points grid search has (capped to avoid building a huge list to count it). */
export function gridSize(space: SearchSpace): number {
  let size = 1;
  for (const param of Object.values(space)) size *= gridValues(param)?.length ?? Infinity;
  return size;
}

/**
 * The values that bound what a parameter can take: both ends of a range, every value of a choice.
 * Checking the spec at every combination of them checks every corner of the space.
 */
export function extremeValues(param: SearchParam): unknown[] {
  switch (param.type) {
    case 'uniform':
    case 'logUniform':
    case 'int':
      return param.low === param.high ? [param.low] : [param.low, param.high];
    case 'choice':
      return param.values;
  }
}

/** Every corner of the space, or `limit` of them drawn with `rng` when there are more. */
export function cornerPoints(space: SearchSpace, limit: number, rng: Rng): TrialParams[] {
  const entries = sortedEntries(space);
  const count = entries.reduce((total, [, param]) => total * extremeValues(param).length, 1);
  if (count <= limit) {
    let points: TrialParams[] = [{}];
    for (const [path, param] of entries) points = points.flatMap((point) => extremeValues(param).map((value) => ({ ...point, [path]: value })));
    return points;
  }
  return Array.from({ length: limit }, () =>
    Object.fromEntries(
      entries.map(([path, param]) => {
        const values = extremeValues(param);
        return [path, values[Math.floor(rng() * values.length)]];
      }),
    ),
  );
}

/**
 * PBT's explore: each parameter is drawn again with `resampleProbability`, else a real one is
 * multiplied by one of the factors (kept inside its range) and a choice moves to a neighbouring value.
 */
export function perturb(space: SearchSpace, params: TrialParams, rng: Rng, options: { resampleProbability: number; factors: readonly [number, number] }): TrialParams {
  const next: TrialParams = {};
  for (const [path, param] of sortedEntries(space)) {
    const current = params[path];
    if (rng() < options.resampleProbability) {
      next[path] = drawParam(param, rng);
      continue;
    }
    const factor = options.factors[rng() < 0.5 ? 0 : 1];
    switch (param.type) {
      case 'uniform':
      case 'logUniform':
        next[path] = clamp((current as number) * factor, param.low, param.high);
        break;
      case 'int':
        next[path] = clamp(Math.round((current as number) * factor), param.low, param.high);
        break;
      case 'choice': {
        const index = param.values.findIndex((value) => JSON.stringify(value) === JSON.stringify(current));
        const step = factor >= 1 ? 1 : -1;
        next[path] = structuredClone(param.values[clamp(index + step, 0, param.values.length - 1)]);
        break;
      }
    }
  }
  return next;
}

const clamp = (value: number, low: number, high: number) => Math.min(high, Math.max(low, value));
