import { describe, expect, it } from 'vitest';
import { canTransition, sourcesOf, terminalStatuses } from '../../src/jobs/job-state-machine.js';

describe('job state machine', () => {
  it('has exactly the four terminal states', () => {
    expect([...terminalStatuses].sort()).toEqual(['cancelled', 'failed', 'stopped', 'succeeded']);
  });

  it.each([
    ['queued', 'running', true],
    ['queued', 'paused', true],
    ['running', 'pausing', true],
    ['pausing', 'paused', true],
    ['paused', 'queued', true],
    ['running', 'cancelling', true],
    ['cancelling', 'cancelled', true],
    ['cancelling', 'succeeded', true],
    ['succeeded', 'queued', false],
    ['cancelled', 'running', false],
    ['paused', 'running', false],
    ['cancelling', 'running', false],
    ['queued', 'succeeded', false],
    ['running', 'paused', true],
    ['paused', 'stopped', true],
    ['running', 'stopped', false],
    ['stopped', 'queued', false],
  ] as const)('%s → %s is %s', (from, to, allowed) => {
    expect(canTransition(from, to)).toBe(allowed);
  });

  it('knows where each state can be entered from', () => {
    expect(sourcesOf('paused').sort()).toEqual(['pausing', 'queued', 'running']);
    expect(sourcesOf('stopped')).toEqual(['paused']);
    expect(sourcesOf('cancelled').sort()).toEqual(['cancelling', 'paused', 'queued']);
  });
});
