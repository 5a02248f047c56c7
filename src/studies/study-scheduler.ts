import { cpSync, rmSync } from 'node:fs';
import { randomUUID } from 'node:crypto';
import os from 'node:os';
import path from 'node:path';
import { v7 as uuidv7 } from 'uuid';
import { checkpointFolder } from '../checkpoints/checkpoint-files.js';
import { deriveSeed } from '../engine/random.js';
import type { JobService } from '../jobs/job-service.js';
import type { JobStore } from '../jobs/job-store.js';
import type { JobEventRecord, JobRecord } from '../jobs/job-types.js';
import type { Logger } from '../logging/logger.js';
import { jobSpecSchema } from '../spec/job-spec.js';
import type { ResolvedStudySpec } from '../spec/study-spec.js';
import { AshaStrategy } from './algorithms/asha.js';
import { FullTraining } from './algorithms/full-training.js';
import { PbtStrategy } from './algorithms/pbt.js';
import { activeTrials, formatValue, type Decision, type SearchStrategy, type StudyState } from './algorithms/search-strategy.js';
import { applyParams, type TrialParams } from './search-space.js';
import type { StudyEventPublisher } from './study-event-publisher.js';
import { StaleTrialError, StudyLeaseLostError, type StudyStore, type Tx } from './study-store.js';
import { bestTrial } from './study-summary.js';
import type { StudyEventRecord, StudyRecord, TrialWithJob } from './study-types.js';

export interface StudySchedulerDeps {
  studies: StudyStore;
  jobStore: JobStore;
  jobs: JobService;
  publisher: StudyEventPublisher;
  logger: Logger;
  artifactDir: string;
  intervalMs: number;
  leaseMs: number;
}

export function strategyFor(spec: ResolvedStudySpec): SearchStrategy {
  switch (spec.algorithm.type) {
    case 'grid':
    case 'random':
      return new FullTraining(spec.algorithm.type);
    case 'asha':
      return new AshaStrategy(spec, spec.algorithm);
    case 'pbt':
      return new PbtStrategy(spec, spec.algorithm);
  }
}

/** After a commit: what to tell streams and the queue. */
interface Announcements {
  study: StudyEventRecord[];
  jobs: { job: JobRecord; events: JobEventRecord[]; launch?: boolean }[];
}

/**
 * Decides for studies: looks at each running study every `intervalMs` under a lease in
 * PostgreSQL, records what its trials' jobs reached, and applies its algorithm's decisions (start,
 * promote, continue, exploit, stop) one transaction each. Every decision is committed only while
 * the lease is held and only if the trial is still where the decision saw it, so a scheduler killed
 * at any point loses nothing (the next one re-reads the study) and never acts twice. Runs in any
 * API or worker process; the engine knows nothing of it.
 */
export class StudyScheduler {
  readonly owner = `${os.hostname()}:${process.pid}:${randomUUID().slice(0, 8)}`;
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<void> | null = null;
  private closing = false;

  constructor(private readonly deps: StudySchedulerDeps) {}

  start(): void {
    this.timer = setInterval(() => void this.tick(), this.deps.intervalMs);
    this.timer.unref();
    void this.tick();
  }

  async close(): Promise<void> {
    this.closing = true;
    if (this.timer) clearInterval(this.timer);
    await this.running;
  }

  /** One look at every study this process may decide for; never two at once in one process. */
  tick(): Promise<void> {
    if (this.running || this.closing) return this.running ?? Promise.resolve();
    this.running = this.lookAtStudies().finally(() => {
      this.running = null;
    });
    return this.running;
  }

  private async lookAtStudies(): Promise<void> {
    const { studies, logger, leaseMs } = this.deps;
    let ids: string[];
    try {
      ids = await studies.schedulable(this.owner, 100);
    } catch (error) {
      logger.warn({ err: error }, 'study scheduler: could not list studies');
      return;
    }
    for (const id of ids) {
      if (this.closing) return;
      try {
        if (!(await studies.claimLease(id, this.owner, leaseMs))) continue;
        await this.step(id);
      } catch (error) {
        if (error instanceof StudyLeaseLostError) logger.info({ studyId: id }, 'study scheduler: lease taken over by another process');
        else logger.warn({ err: error, studyId: id }, 'study scheduler: a look at the study failed; the next one retries');
      }
    }
  }

  /** Observes, decides, applies; a decision that finds its trial moved on is dropped and made again at the next look. */
  async step(id: string): Promise<void> {
    const study = await this.deps.studies.get(id);
    if (!study || (study.status !== 'running' && study.status !== 'paused')) return;
    const strategy = strategyFor(study.spec);
    await this.observe(study, strategy, await this.deps.studies.trials(id));
    let trials = await this.deps.studies.trials(id);
    await this.updateBest(study, trials);
    if (study.status !== 'running') return;
    const decisions = strategy.decide(this.stateOf(study, trials));
    for (const decision of decisions) {
      try {
        await this.apply(study, decision);
      } catch (error) {
        if (!(error instanceof StaleTrialError)) throw error;
        this.deps.logger.info({ studyId: id, decision: decision.kind, reason: error.message }, 'study scheduler: decision dropped');
      }
    }
    trials = await this.deps.studies.trials(id);
    if (decisions.length === 0 && activeTrials(trials).length === 0) await this.finish(study, trials);
  }

  private stateOf(study: StudyRecord, trials: TrialWithJob[]): StudyState {
    const { budget } = study.spec;
    const committed = trials.reduce((sum, trial) => sum + trial.epochsTrained + (trial.state === 'training' ? trial.targetEpoch - trial.segmentStart : 0), 0);
    return {
      spec: study.spec,
      trials,
      epochsLeft: budget.trialEpochs === undefined ? Infinity : Math.max(0, budget.trialEpochs - committed),
      timeUp: budget.seconds !== undefined && Date.now() - Date.parse(study.createdAt) > budget.seconds * 1000,
    };
  }

  /** What each training trial's job reached: a result at its target epoch, the end, or a failure. */
  private async observe(study: StudyRecord, strategy: SearchStrategy, trials: TrialWithJob[]): Promise<void> {
    const { studies } = this.deps;
    const metric = study.spec.objective.metric;
    for (const trial of trials.filter((t) => t.state === 'training')) {
      const { status } = trial.job;
      if (status === 'paused') {
        const reached = await studies.epochMetrics(trial.jobId, trial.targetEpoch);
        if (!reached || trial.targetEpoch >= study.spec.maxEpochs) {
          // Paused by its study (or by hand) before its target: it goes on once the study runs.
          if (study.status === 'running') await this.resumeJob(study, trial, 'its study is running: the trial goes on');
          continue;
        }
        const value = reached.values[metric];
        if (value === undefined || !Number.isFinite(value)) {
          await this.endTrial(study, trial, 'failed', `its job reported no finite ${metric} at epoch ${trial.targetEpoch}`);
          continue;
        }
        const result = strategy.resultFor(trial, trial.targetEpoch, value);
        await this.commit(study, async (tx, out) => {
          await studies.updateTrialIn(tx, trial, { state: 'waiting', results: [...trial.results, result], epochsTrained: trial.epochsTrained + trial.targetEpoch - trial.segmentStart });
          out.study.push(await studies.appendEventIn(tx, study.id, 'trialResult', { trial: trial.number, ...result }));
        }, false);
      } else if (status === 'succeeded') {
        const last = await studies.epochMetrics(trial.jobId);
        const value = last?.values[metric];
        await this.commit(study, async (tx, out) => {
          const results = last && value !== undefined ? [...trial.results, strategy.resultFor(trial, last.epoch, value)] : trial.results;
          const trained = last ? last.epoch - trial.segmentStart : 0;
          await studies.updateTrialIn(tx, trial, { state: 'completed', results, epochsTrained: trial.epochsTrained + Math.max(0, trained), reason: null });
          out.study.push(await studies.appendEventIn(tx, study.id, 'trialEnded', { trial: trial.number, state: 'completed', ...(value !== undefined ? { value, epoch: last!.epoch } : {}) }));
        }, false);
      } else if (status === 'failed' || status === 'cancelled' || status === 'stopped') {
        const state = status === 'failed' ? 'failed' : 'cancelled';
        await this.endTrial(study, trial, state, status === 'failed' ? `its job failed: ${trial.job.failureReason ?? 'no reason recorded'}` : `its job was ${status}`);
      }
    }
  }

  private async endTrial(study: StudyRecord, trial: TrialWithJob, state: 'failed' | 'cancelled', reason: string): Promise<void> {
    await this.commit(study, async (tx, out) => {
      await this.deps.studies.updateTrialIn(tx, trial, { state, reason });
      out.study.push(await this.deps.studies.appendEventIn(tx, study.id, 'trialEnded', { trial: trial.number, state, reason }));
    }, false);
  }

  private async resumeJob(study: StudyRecord, trial: TrialWithJob, reason: string): Promise<void> {
    await this.commit(study, async (tx, out) => {
      const event = await this.deps.jobStore.transitionIn(tx, trial.jobId, { status: 'queued', from: ['paused'] }, { reason });
      if (!event) throw new StaleTrialError(`job ${trial.jobId} is no longer paused`);
      out.jobs.push({ job: (await this.jobOf(trial.jobId))!, events: [event] });
    });
  }

  private async apply(study: StudyRecord, decision: Decision): Promise<void> {
    const { studies, jobStore } = this.deps;
    switch (decision.kind) {
      case 'start': {
        const resolved = await this.trialSpec(study, decision.params, decision.number);
        await this.commit(study, async (tx, out) => {
          const { job, events } = await jobStore.createIn(tx, study.projectId, resolved, { pauseAtEpoch: this.pauseAt(study, decision.targetEpoch), reason: `trial ${decision.number} of study ${study.id}` });
          await studies.createTrialIn(tx, { studyId: study.id, number: decision.number, jobId: job.id, params: decision.params, bracket: decision.bracket, targetEpoch: decision.targetEpoch });
          out.study.push(await studies.appendEventIn(tx, study.id, 'trialStarted', { trial: decision.number, job: job.id, params: decision.params, targetEpoch: decision.targetEpoch }));
          out.jobs.push({ job, events, launch: true });
        });
        return;
      }
      case 'promote':
      case 'continue': {
        const { trial, targetEpoch } = decision;
        const from = trial.results.at(-1)!.epoch;
        const reason = decision.kind === 'promote' ? decision.reason : `continues to epoch ${targetEpoch}`;
        await this.commit(study, async (tx, out) => {
          const event = await jobStore.transitionIn(tx, trial.jobId, { status: 'queued', from: ['paused'], pauseAtEpoch: this.pauseAt(study, targetEpoch) }, { reason });
          if (!event) throw new StaleTrialError(`job ${trial.jobId} is no longer paused`);
          await studies.updateTrialIn(tx, trial, { state: 'training', targetEpoch, segmentStart: from, reason: decision.kind === 'promote' ? reason : null });
          out.study.push(await studies.appendEventIn(tx, study.id, decision.kind === 'promote' ? 'promoted' : 'continued', { trial: trial.number, fromEpoch: from, targetEpoch, reason, ...(decision.kind === 'promote' && decision.rung !== undefined ? { rung: decision.rung } : {}) }));
          out.jobs.push({ job: (await this.jobOf(trial.jobId))!, events: [event] });
        });
        return;
      }
      case 'stop': {
        const { trial, reason } = decision;
        await this.commit(study, async (tx, out) => {
          const event = await jobStore.transitionIn(tx, trial.jobId, { status: 'stopped', from: ['paused'], finishedAt: new Date(), pauseAtEpoch: null }, { reason });
          if (!event) throw new StaleTrialError(`job ${trial.jobId} is no longer paused`);
          await studies.updateTrialIn(tx, trial, { state: 'stopped', reason });
          out.study.push(await studies.appendEventIn(tx, study.id, 'stopped', { trial: trial.number, reason, ...(decision.rung !== undefined ? { rung: decision.rung } : {}) }));
          out.jobs.push({ job: (await this.jobOf(trial.jobId))!, events: [event] });
        });
        return;
      }
      case 'exploit':
        await this.exploit(study, decision);
        return;
    }
  }

  /**
   * PBT's exploit and explore: the trial goes on as a new job that starts from a copy of the
   * donor's checkpoint (weights, optimizer state, position) with the explored values; the job it
   * leaves is stopped. A job's spec never changes once recorded, hence the new job.
   */
  private async exploit(study: StudyRecord, decision: Extract<Decision, { kind: 'exploit' }>): Promise<void> {
    const { studies, jobStore, artifactDir } = this.deps;
    const { trial, donor, fromEpoch, params, targetEpoch } = decision;
    const source = await studies.checkpointAtEpoch(donor.jobId, fromEpoch);
    if (!source) {
      // Pruned meanwhile: this interval the trial simply goes on.
      await this.apply(study, { kind: 'continue', trial, targetEpoch: Math.min(study.spec.maxEpochs, trial.results.at(-1)!.epoch + (targetEpoch - fromEpoch)) });
      return;
    }
    const resolved = await this.trialSpec(study, params, trial.number);
    const jobId = uuidv7();
    const folder = checkpointFolder(jobId, source.step, 'pause');
    cpSync(path.join(artifactDir, source.path), path.join(artifactDir, folder), { recursive: true });
    const at = trial.results.at(-1)!.epoch;
    const reason = `trial ${trial.number} takes trial ${donor.number}'s checkpoint at epoch ${fromEpoch} (it was in the bottom ${Math.round(study.spec.algorithm.type === 'pbt' ? study.spec.algorithm.quantileFraction * 100 : 0)} % at epoch ${at}) and explores ${describe(params)}`;
    try {
      await this.commit(study, async (tx, out) => {
        const left = await jobStore.transitionIn(tx, trial.jobId, { status: 'stopped', from: ['paused'], finishedAt: new Date(), pauseAtEpoch: null }, { reason: `its trial continues as job ${jobId}: ${reason}` });
        if (!left) throw new StaleTrialError(`job ${trial.jobId} is no longer paused`);
        const { job, events } = await jobStore.createIn(tx, study.projectId, resolved, {
          id: jobId,
          pauseAtEpoch: this.pauseAt(study, targetEpoch),
          reason,
          resumeFrom: { epoch: source.epoch, step: source.step, reason: 'pause', path: folder, sizeBytes: source.sizeBytes, sha256: source.sha256, metrics: source.metrics as Record<string, number>, isBest: false },
        });
        const lineage = [...trial.lineage, { epoch: at, fromTrial: donor.number, fromEpoch, job: jobId, previousJob: trial.jobId, params }];
        await studies.updateTrialIn(tx, trial, { state: 'training', jobId, params, targetEpoch, segmentStart: fromEpoch, lineage, reason });
        out.study.push(await studies.appendEventIn(tx, study.id, 'exploited', { trial: trial.number, fromTrial: donor.number, fromEpoch, atEpoch: at, job: jobId, previousJob: trial.jobId, params, targetEpoch }));
        out.jobs.push({ job: (await this.jobOf(trial.jobId))!, events: [left] }, { job, events, launch: true });
      });
    } catch (error) {
      rmSync(path.join(artifactDir, folder), { recursive: true, force: true });
      throw error;
    }
  }

  /** The trial's job spec: the base with its values, seeded per trial unless the base has a seed. */
  private async trialSpec(study: StudyRecord, params: TrialParams, number: number) {
    const base = study.spec.base;
    const applied = applyParams(base, params);
    if (applied.seed === undefined) applied.seed = deriveSeed(study.spec.seed, number) % 2 ** 31;
    applied.name = `${study.spec.name ?? `study ${study.id.slice(0, 8)}`}: trial ${number}`;
    const { resolved } = await this.deps.jobs.prepare(study.projectId, jobSpecSchema.parse(applied));
    return resolved;
  }

  /** A trial's job pauses at its target unless the target is its last epoch. */
  private pauseAt(study: StudyRecord, targetEpoch: number): number | null {
    return targetEpoch < study.spec.maxEpochs ? targetEpoch : null;
  }

  private async updateBest(study: StudyRecord, trials: TrialWithJob[]): Promise<void> {
    const best = bestTrial(study.spec, trials);
    if (!best || best.trial.id === study.bestTrialId) return;
    await this.commit(study, async (tx, out) => {
      await this.deps.studies.setBestIn(tx, study.id, best.trial.id);
      out.study.push(await this.deps.studies.appendEventIn(tx, study.id, 'best', { trial: best.trial.number, value: best.result.value, epoch: best.result.epoch, job: best.trial.jobId }));
    }, false);
  }

  /**
   * Nothing trains and nothing more can start: trials still waiting are stopped (the budget is
   * spent), and the study ends with its best trial.
   */
  private async finish(study: StudyRecord, trials: TrialWithJob[]): Promise<void> {
    const state = this.stateOf(study, trials);
    const why = state.timeUp ? `its ${study.spec.budget.seconds} s budget is spent` : state.epochsLeft !== Infinity && trials.length < study.spec.maxTrials ? `its ${study.spec.budget.trialEpochs} trial-epoch budget is spent` : `all ${trials.length} trials are done`;
    for (const trial of trials.filter((t) => t.state === 'waiting')) {
      await this.apply(study, { kind: 'stop', trial, reason: `stopped at epoch ${trial.results.at(-1)!.epoch}: the study ended (${why})` }).catch((error: unknown) => {
        if (!(error instanceof StaleTrialError)) throw error;
      });
    }
    const best = bestTrial(study.spec, await this.deps.studies.trials(study.id));
    await this.commit(study, async (tx, out) => {
      const event = await this.deps.studies.setStatusIn(tx, study.id, ['running'], {
        status: best ? 'succeeded' : 'failed',
        reason: best ? `${why}; best: trial ${best.trial.number}, ${study.spec.objective.metric} ${formatValue(best.result.value)} at epoch ${best.result.epoch}` : `${why}, and no trial reported ${study.spec.objective.metric}`,
        bestTrialId: best?.trial.id ?? null,
        finished: true,
      });
      if (event) out.study.push(event);
    });
  }

  private async jobOf(id: string): Promise<JobRecord | null> {
    return this.deps.jobStore.get(id);
  }

  /**
   * One decision as one transaction under the study's lease (and, for decisions that move the study
   * on, only while it is running); then its events are announced and new jobs queued. Should this
   * process die after the commit, the jobs are queued by the workers' reconciliation.
   */
  private async commit(study: StudyRecord, work: (tx: Tx, out: Announcements) => Promise<void>, requireRunning = true): Promise<void> {
    const out: Announcements = { study: [], jobs: [] };
    await this.deps.studies.underLease(study.id, this.owner, async (tx) => {
      if (requireRunning) {
        const [row] = await tx.$queryRaw<{ status: string }[]>`SELECT status::text AS status FROM studies WHERE id = ${study.id}::uuid`;
        if (row?.status !== 'running') throw new StaleTrialError(`study ${study.id} is ${row?.status ?? 'gone'}`);
      }
      await work(tx, out);
    });
    await this.deps.publisher.publishAll(study.id, out.study).catch((error: unknown) => this.deps.logger.warn({ err: error, studyId: study.id }, 'could not publish study events'));
    for (const { job, events, launch } of out.jobs) {
      if (launch) await this.deps.jobs.launch(job, events);
      else await this.deps.jobs.afterTransition(job, events[0]!);
    }
  }
}

const describe = (params: TrialParams) =>
  Object.entries(params)
    .map(([key, value]) => `${key} = ${typeof value === 'number' ? Number(value.toPrecision(4)) : JSON.stringify(value)}`)
    .join(', ');
