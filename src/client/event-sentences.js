// A job's events written as sentences, for people: the CLI's `logs` and the dashboard's event list.
// Plain JavaScript (types in event-sentences.d.ts) so the browser loads the same file.

const number = (value) => {
  if (typeof value !== 'number' || !Number.isFinite(value)) return String(value);
  if (value === 0) return '0';
  const magnitude = Math.abs(value);
  return magnitude >= 1e5 || magnitude < 1e-3 ? value.toExponential(2) : String(Number(value.toPrecision(4)));
};
const count = (value) => (typeof value === 'number' ? value.toLocaleString('en-US') : String(value));
const metrics = (values) =>
  Object.entries(values ?? {})
    .filter(([name]) => name !== 'learning_rate')
    .map(([name, value]) => `${name} ${number(value)}`)
    .join(', ');
const capital = (text) => text.charAt(0).toUpperCase() + text.slice(1);
const because = (reason) => (reason ? ` (${reason})` : '');

const sentences = {
  status: (d) => {
    switch (d.status) {
      case 'running':
        return `Running${d.backend ? ` on ${d.backend}` : ''}${d.device ? `, ${d.device}` : ''}${d.attempt > 1 ? ` — attempt ${d.attempt}` : ''}`;
      case 'succeeded': {
        const parts = [d.epochs !== undefined ? `${d.epochs} epochs` : '', d.durationMs !== undefined ? `in ${number(d.durationMs / 1000)} s` : ''].filter(Boolean).join(' ');
        return `Succeeded${parts ? ` after ${parts}` : ''}${d.stopReason ? ` — ${d.stopReason}` : ''}${d.finalMetrics ? `: ${metrics(d.finalMetrics)}` : ''}`;
      }
      case 'failed':
        return `Failed: ${d.reason ?? 'no reason given'}`;
      default:
        return `${capital(String(d.status))}${because(d.reason)}`;
    }
  },
  advice: (d) => {
    const advice = d.advice ?? [];
    return `Advice on the spec (${advice.length}): ${advice.map((a) => `${a.field}: ${a.reason} [${a.code}]`).join('; ')}`;
  },
  started: (d) =>
    `Started on ${d.backend}${d.device ? ` (${d.device})` : ''}: ${count(d.trainRows)} training, ${count(d.validationRows)} validation and ${count(d.testRows)} test rows; ` +
    `${count(d.parameters)} parameters, ${count(d.totalSteps)} steps`,
  metrics: (d) => (d.scope === 'epoch' ? `Epoch ${d.epoch}: ${metrics(d.values)}` : `Step ${d.step}: ${metrics(d.values)}`),
  optimizerPhase: (d) => `Phase ${d.phase}: ${d.optimizer?.type ?? 'optimizer'} from epoch ${d.fromEpoch}${d.untilEpoch ? ` until epoch ${d.untilEpoch}` : ''}`,
  divergence: (d) =>
    `The loss diverged at epoch ${d.epoch} (${d.reason}): back to the end of epoch ${d.rolledBackToEpoch}, learning rate halved from ${number(d.oldLearningRate)} to ${number(d.newLearningRate)} (retry ${d.retry} of ${d.maxRetries})`,
  lrRangeTest: (d) => `Learning-rate range test over ${d.points} rates${d.stoppedEarly ? ', stopped early' : ''}: ${number(d.suggestedLearningRate)} suggested (lowest loss at ${number(d.minLossLearningRate)})`,
  resumed: (d) => `Resumed from epoch ${d.fromEpoch}, step ${d.fromStep}${because(d.reason)}`,
  checkpoint: (d) => `Checkpoint at epoch ${d.epoch}${because(d.reason)}${d.isBest ? ', the best so far' : ''}`,
  preprocessing: (d) =>
    d.vocabulary
      ? `Vocabulary of ${count(d.vocabulary.size)} ${d.vocabulary.text?.tokenizer === 'characters' ? 'characters' : 'tokens'} fitted on the training rows (of ${count(d.vocabulary.distinctTokens)} distinct); most frequent: ${(d.vocabulary.mostFrequent ?? []).slice(0, 8).join(' ')}`
      : `Features ${d.features === 'minMax' ? 'scaled to [0, 1]' : 'standardized'} with statistics of the training rows`,
  earlyStop: (d) => `Stopped early at epoch ${d.epoch}: ${d.reason}`,
  activationVariance: (d) => `Activation variance at step 0 over ${count(d.rows)} rows: ${(d.layers ?? []).map((layer) => `${layer.name ?? layer.layer} ${number(layer.variance)}`).join(', ')}`,
  transfer: (d) => `Starts from job ${d.from?.job}'s ${d.from?.checkpoint} checkpoint${d.alsoFrom?.length ? ` and ${d.alsoFrom.length} more` : ''} (${d.mode}): ${(d.loaded ?? []).length} layers loaded, ${(d.frozen ?? []).length} frozen${because(d.reason)}`,
  threadFailed: (d) => `Training thread ${d.thread} failed: ${d.message}; ${d.remaining} left`,
  distributed: (d) => `Epoch ${d.epoch} on ${d.workers} training threads (${d.strategy}): ${number(d.speedup)}× the speed of one`,
};

/** One event as a sentence; an event type this file does not know shows its data as JSON. */
export function describeEvent(type, data) {
  const sentence = sentences[type];
  try {
    if (sentence) return sentence(data ?? {});
  } catch {
    // A malformed event still shows, as data.
  }
  return `${type}: ${JSON.stringify(data)}`;
}

/** A metric value for people: 4 significant digits, exponents for the very large and very small. */
export const formatNumber = number;
