// Numbers, times and ids as people read them.
import { formatNumber } from '/dashboard/lib/event-sentences.js';
import { shortIdLength } from '/dashboard/lib/job-ids.js';

export { formatNumber };

/** A metric value for a table cell or a summary; '' for none. */
export const metric = (value) => (typeof value === 'number' ? formatNumber(value) : '');

/** Milliseconds → "42 s", "3 min 07 s", "1 h 02 min". */
export function duration(ms) {
  if (typeof ms !== 'number' || !Number.isFinite(ms)) return '';
  if (ms < 10_000) return `${(ms / 1000).toFixed(1)} s`;
  const seconds = Math.round(ms / 1000);
  if (seconds < 60) return `${seconds} s`;
  const minutes = Math.floor(seconds / 60);
  if (minutes < 60) return `${minutes} min ${String(seconds % 60).padStart(2, '0')} s`;
  return `${Math.floor(minutes / 60)} h ${String(minutes % 60).padStart(2, '0')} min`;
}

/** Samples per second, as "1.2k/s". */
export const rate = (perSecond) => {
  if (typeof perSecond !== 'number') return '';
  return perSecond >= 1000 ? `${(perSecond / 1000).toFixed(perSecond >= 1e4 ? 0 : 1)}k/s` : `${Math.round(perSecond)}/s`;
};

export const age = (iso) => {
  const seconds = Math.round((Date.now() - Date.parse(iso)) / 1000);
  if (seconds < 60) return `${seconds}s`;
  if (seconds < 3600) return `${Math.round(seconds / 60)}m`;
  if (seconds < 86400) return `${Math.round(seconds / 3600)}h`;
  return `${Math.round(seconds / 86400)}d`;
};

/** For ids shown together: each cut where they all read differently (time-ordered ids share their start). */
export function shortener(ids) {
  const length = shortIdLength(ids);
  return (id) => id.slice(0, length);
}

/** A run's label: its name and its short id, so two runs of one name never read the same. */
export const runLabel = (job, short) => `${job.name ?? 'job'} · ${short(job.id)}`;

// Axis tick labels: whole epochs and steps, rates in scientific notation, no thousands separators.
export const integerTicks = (_u, splits) => splits.map((value) => (Number.isInteger(value) ? String(value) : ''));
export const scientificTicks = (_u, splits) => splits.map((value) => (value === 0 ? '0' : value.toExponential(1)));
export const valueTicks = (_u, splits) => {
  const magnitude = Math.max(...splits.map((value) => Math.abs(value)));
  if (magnitude >= 1e4 || (magnitude > 0 && magnitude < 1e-2)) return splits.map((value) => (value === 0 ? '0' : value.toExponential(1)));
  // As few decimals as write every tick exactly (0.25 stays 0.25, 0.5 is not 0.50).
  let decimals = 0;
  while (decimals < 4 && !splits.every((value) => Math.abs(Number(value.toFixed(decimals)) - value) < 1e-9)) decimals += 1;
  return splits.map((value) => value.toFixed(decimals));
};
