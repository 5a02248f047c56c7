/** An optimizer's type as a spec names it: `"adam"`, `{type: "adam", …}`, or its phases' types joined. */
export function optimizerTypeOf(optimizer: unknown): string {
  if (Array.isArray(optimizer)) return optimizer.map((phase: { optimizer?: unknown }) => optimizerTypeOf(phase.optimizer)).join(',');
  if (typeof optimizer === 'string') return optimizer;
  if (typeof optimizer === 'object' && optimizer !== null && 'type' in optimizer) return String(optimizer.type);
  return '';
}
