// A study's events written as sentences, for people: `trainyard study watch` and the dashboard.
// Plain JavaScript (types in study-event-sentences.d.ts) so the browser loads the same file; it
// imports its neighbour by a relative path, which holds in src/client/ and in /dashboard/lib/.
import { formatNumber } from './event-sentences.js';

// A parameter's value: numbers to 4 significant digits, names bare, whole configs as compact JSON.
const value = (v) => {
  if (typeof v === 'number') return formatNumber(v);
  if (typeof v === 'string') return v;
  return JSON.stringify(v, (_key, inner) => (typeof inner === 'number' && Number.isFinite(inner) ? Number(inner.toPrecision(4)) : inner));
};

/** `{ learningRate: 0.012345, batchSize: 64 }` → `learningRate = 0.01235, batchSize = 64`. */
export function formatParams(params) {
  return Object.entries(params ?? {})
    .map(([path, v]) => `${path} = ${value(v)}`)
    .join(', ');
}

// Rungs are numbered from 0 in the data and from 1 in the scheduler's reasons; people read the latter.
const atRung = (rung) => (typeof rung === 'number' ? ` at rung ${rung + 1}` : '');
const objective = (context, v) => `${context?.metric ?? 'objective'} ${formatNumber(v)}`;
const reasoned = (head, reason) => (reason ? `${head}: ${reason}` : head);

const sentences = {
  status: (d) => reasoned(`study ${d.status}`, d.reason),
  trialStarted: (d) => {
    const params = formatParams(d.params);
    return params ? `trial ${d.trial} started: ${params}` : `trial ${d.trial} started`;
  },
  trialResult: (d, context) => `trial ${d.trial} at epoch ${d.epoch}${typeof d.rung === 'number' ? ` (rung ${d.rung + 1})` : ''}: ${objective(context, d.value)}`,
  promoted: (d) => {
    // The scheduler's reason stands alone on the trial ("promoted at rung 1 (epoch 1): …"): its
    // head goes before the target, so the sentence says "promoted" once.
    const reason = String(d.reason ?? '');
    const split = reason.indexOf(': ');
    if (reason.startsWith('promoted ') && split > 0) return `trial ${d.trial} ${reason.slice(0, split)} to epoch ${d.targetEpoch}: ${reason.slice(split + 2)}`;
    return reasoned(`trial ${d.trial} promoted${atRung(d.rung)} from epoch ${d.fromEpoch} to epoch ${d.targetEpoch}`, reason);
  },
  continued: (d) => `trial ${d.trial} goes on from epoch ${d.fromEpoch} to epoch ${d.targetEpoch}`,
  stopped: (d) => {
    const reason = String(d.reason ?? '');
    // "stopped at rung 1 (epoch 1): …" already is the sentence's verb and place.
    if (reason.startsWith('stopped ')) return `trial ${d.trial} ${reason}`;
    return reasoned(`trial ${d.trial} stopped${atRung(d.rung)}`, reason);
  },
  exploited: (d) => {
    const params = formatParams(d.params);
    return `trial ${d.trial} took trial ${d.fromTrial}'s checkpoint at epoch ${d.fromEpoch}${params ? ` and explored ${params}` : ''}; it trains on to epoch ${d.targetEpoch}`;
  },
  trialEnded: (d, context) => {
    if (d.state === 'completed') return typeof d.value === 'number' ? `trial ${d.trial} completed: ${objective(context, d.value)} at epoch ${d.epoch}` : `trial ${d.trial} completed`;
    return reasoned(`trial ${d.trial} ${d.state}`, d.reason);
  },
  best: (d, context) => `best: trial ${d.trial}, ${objective(context, d.value)} at epoch ${d.epoch}`,
};

/**
 * One study event as a sentence. `context.metric` names the objective (the study's
 * spec.objective.metric), which results and the best trial report without naming it. An event
 * type this file does not know shows its data as JSON.
 */
export function describeStudyEvent(type, data, context) {
  const sentence = sentences[type];
  try {
    if (sentence) return sentence(data ?? {}, context);
  } catch {
    // A malformed event still shows, as data.
  }
  return `${type}: ${JSON.stringify(data)}`;
}
