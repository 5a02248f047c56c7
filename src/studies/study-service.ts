import { randomInt } from 'node:crypto';
import { isUuid } from '../db/ids.js';
import { createRng } from '../engine/random.js';
import { ConflictError, NotFoundError, ValidationError, fieldFromPath, type FieldProblem } from '../errors/errors.js';
import type { JobService, SubmittedJob } from '../jobs/job-service.js';
import type { Logger } from '../logging/logger.js';
import type { PrismaClient } from '../db/prisma.js';
import { jobSpecSchema, type JobSpec } from '../spec/job-spec.js';
import { isCategorical } from '../spec/loss-spec.js';
import { defaultModeOf, type ResolvedStudySpec, type StudySpec } from '../spec/study-spec.js';
import { applyParams, cornerPoints, gridSize, ParamPathError, pathSegments } from './search-space.js';
import { bestTrial, studyCompute, type StudyCompute } from './study-summary.js';
import type { StudyEventPublisher } from './study-event-publisher.js';
import type { StudyStore } from './study-store.js';
import type { StudyEventRecord, StudyRecord, StudyStatus, TrialWithJob } from './study-types.js';

/** Corners of the space checked against the job spec at submission; the database's checks (uploads, limits) run on the first few. */
const CORNERS_CHECKED = 256;
const CORNERS_PREPARED = 16;

export type StudyAction = 'pause' | 'resume' | 'cancel';

export interface StudyView extends StudyRecord {
  trials: TrialWithJob[];
  best: { trial: number; value: number; epoch: number; jobId: string } | null;
  compute: StudyCompute;
}

/** What the API does with studies; the decisions during a study are the scheduler's (study-scheduler.ts). */
export class StudyService {
  constructor(
    private readonly deps: { store: StudyStore; jobs: JobService; publisher: StudyEventPublisher; prisma: PrismaClient; logger: Logger },
  ) {}

  async create(projectId: string, spec: StudySpec): Promise<StudyView> {
    const resolved = await this.resolve(projectId, spec);
    const { study, event } = await this.deps.store.create(projectId, resolved);
    await this.announce(study.id, [event]);
    return this.view(study);
  }

  /**
   * Fills the defaults in and checks the space against the job spec contract: every corner of the
   * space (each range's ends, each choice's values, in every combination up to CORNERS_CHECKED) must
   * make a valid job spec; a problem names the parameter or the base field at fault.
   */
  private async resolve(projectId: string, spec: StudySpec): Promise<ResolvedStudySpec> {
    const { algorithm } = spec;
    const problems: FieldProblem[] = [];
    for (const [path, param] of Object.entries(spec.space)) {
      if (param.type !== 'choice' && param.low > param.high) problems.push({ field: `space.${path}.high`, message: `must be at least low (${param.low})` });
      if (param.type === 'int' && param.log && param.low < 1) problems.push({ field: `space.${path}.low`, message: 'a log-uniform integer needs low ≥ 1' });
      if ((algorithm.type === 'asha' || algorithm.type === 'pbt') && path === 'epochs') problems.push({ field: `space.${path}`, message: `${algorithm.type} decides how many epochs each trial trains: search over something else` });
      if (algorithm.type === 'pbt' && pathSegments(path)[0] === 'model' && pathSegments(path).at(-1) !== 'rate') {
        problems.push({ field: `space.${path}`, message: "pbt continues trials from each other's weights: it can search a layer's dropout rate (…rate) but nothing that changes the model's weights" });
      }
    }
    if (spec.objective.metric.startsWith('val_') && spec.base.validationSplit === 0) {
      problems.push({ field: 'objective.metric', message: `${spec.objective.metric} needs a validation split: set base.validationSplit, or use ${spec.objective.metric.slice(4)}` });
    }
    let maxTrials: number;
    if (algorithm.type === 'grid') {
      const size = gridSize(spec.space);
      const continuous = Object.entries(spec.space).find(([, param]) => param.type !== 'choice' && !(param.type === 'int' && param.high - param.low < 100));
      if (continuous) problems.push({ field: `space.${continuous[0]}`, message: `grid search takes every value of a parameter: make it a choice (it is ${continuous[1].type})` });
      else if (size > 1000) problems.push({ field: 'space', message: `the grid has ${size} points; at most 1000` });
      maxTrials = Math.min(spec.maxTrials ?? size, size);
    } else {
      maxTrials = algorithm.type === 'pbt' ? algorithm.population : (spec.maxTrials ?? 20);
    }
    if (problems.length > 0) throw invalidStudy(problems);

    const maxEpochs = algorithm.type === 'asha' ? (algorithm.maxEpochs ?? spec.base.epochs) : spec.base.epochs;
    if (algorithm.type === 'asha' && algorithm.minEpochs > maxEpochs) throw invalidStudy([{ field: 'algorithm.minEpochs', message: `must be at most maxEpochs (${maxEpochs})` }]);
    const base = { ...spec.base, epochs: maxEpochs };
    const seed = spec.seed ?? randomInt(0, 2 ** 31 - 1);
    await this.checkSpace(projectId, base, spec, seed);
    return {
      ...(spec.name ? { name: spec.name } : {}),
      base: base as unknown as Record<string, unknown>,
      space: spec.space,
      objective: { metric: spec.objective.metric, mode: spec.objective.mode ?? defaultModeOf(spec.objective.metric) },
      algorithm,
      maxTrials,
      maxConcurrentTrials: spec.maxConcurrentTrials,
      maxEpochs,
      budget: spec.budget,
      seed,
    };
  }

  private async checkSpace(projectId: string, base: JobSpec, spec: StudySpec, seed: number): Promise<void> {
    const corners = cornerPoints(spec.space, CORNERS_CHECKED, createRng(seed));
    for (const [index, point] of corners.entries()) {
      const describe = () => Object.entries(point).map(([path, value]) => `${path} = ${JSON.stringify(value)}`).join(', ');
      let candidate: Record<string, unknown>;
      try {
        candidate = applyParams(base as unknown as Record<string, unknown>, point);
      } catch (error) {
        if (error instanceof ParamPathError) throw invalidStudy([{ field: `space.${error.path}`, message: `is not a path into the base spec: ${error.message}` }]);
        throw error;
      }
      const parsed = jobSpecSchema.safeParse(candidate);
      if (!parsed.success) {
        throw invalidStudy(
          parsed.error.issues.slice(0, 20).map((issue) => {
            const field = fieldFromPath(issue.path as (string | number)[]);
            const param = paramAt(point, field);
            return { field: param ? `space.${param}` : `base.${field}`, message: `with ${describe()}: ${field ? `${field}: ` : ''}${issue.message}` };
          }),
        );
      }
      if (index < CORNERS_PREPARED) {
        try {
          const { resolved } = await this.deps.jobs.prepare(projectId, parsed.data);
          if (spec.objective.metric.endsWith('accuracy') && !isCategorical(resolved.loss)) {
            throw invalidStudy([{ field: 'objective.metric', message: `${spec.objective.metric} is reported for classification; this task is a regression (${resolved.loss}): use mae or loss` }]);
          }
          if (spec.objective.metric.endsWith('mae') && isCategorical(resolved.loss)) {
            throw invalidStudy([{ field: 'objective.metric', message: `${spec.objective.metric} is reported for regression; this task is a classification: use accuracy or loss` }]);
          }
        } catch (error) {
          if (error instanceof ValidationError && !error.errors.some((problem) => problem.field.startsWith('objective') || problem.field.startsWith('space'))) {
            throw new ValidationError(
              `invalid study: with ${describe()}: ${error.message}`,
              error.errors.map((problem) => {
                const param = paramAt(point, problem.field);
                return { field: param ? `space.${param}` : `base.${problem.field}`, message: `with ${describe()}: ${problem.message}` };
              }),
            );
          }
          throw error;
        }
      }
    }
  }

  async get(projectId: string, id: string): Promise<StudyView> {
    return this.view(await this.record(projectId, id));
  }

  private async record(projectId: string, id: string): Promise<StudyRecord> {
    const study = isUuid(id) ? await this.deps.store.get(id) : null;
    if (!study || study.projectId !== projectId) throw new NotFoundError('study', id);
    return study;
  }

  async list(projectId: string, limit: number, after?: string): Promise<{ studies: StudyView[]; hasMore: boolean }> {
    const page = await this.deps.store.list(projectId, limit, after);
    return { studies: await Promise.all(page.studies.map((study) => this.view(study))), hasMore: page.hasMore };
  }

  async events(projectId: string, id: string, afterSeq: number, limit: number): Promise<StudyEventRecord[]> {
    await this.record(projectId, id);
    return this.deps.store.events(id, afterSeq, limit);
  }

  private async view(study: StudyRecord): Promise<StudyView> {
    const trials = await this.deps.store.trials(study.id);
    const best = bestTrial(study.spec, trials);
    const earlierJobs = trials.flatMap((trial) => trial.lineage.map((step) => step.previousJob));
    const earlier = earlierJobs.length > 0 ? await this.deps.prisma.job.findMany({ where: { id: { in: earlierJobs } }, select: { runtimeMs: true } }) : [];
    return {
      ...study,
      trials,
      best: best ? { trial: best.trial.number, value: best.result.value, epoch: best.result.epoch, jobId: best.trial.jobId } : null,
      compute: studyCompute(study.spec, trials, earlier.reduce((sum, job) => sum + job.runtimeMs, 0)),
    };
  }

  /**
   * Pause: no trial starts or is promoted, and the training ones pause (checkpointed). Resume: they
   * go on. Cancel: every trial that has not ended is cancelled, and the study ends.
   */
  async act(projectId: string, id: string, action: StudyAction): Promise<StudyView> {
    const study = await this.record(projectId, id);
    const plan = studyActions[action];
    if (!plan.from.includes(study.status)) throw new ConflictError(`cannot ${action} study ${id}: it is ${study.status}`, {});
    // The trials are read after the status change, under the study row's lock that the scheduler
    // also takes to start a trial: one it started just before is among them, and none starts after.
    const changed = await this.deps.prisma.$transaction(async (tx) => {
      const event = await this.deps.store.setStatusIn(tx, id, plan.from, { status: plan.to, reason: `${action} requested`, finished: plan.to === 'cancelled' });
      if (!event) return null;
      const trials = await this.deps.store.trialsIn(tx, id);
      if (plan.to === 'cancelled') {
        await tx.trial.updateMany({ where: { studyId: id, state: { in: ['training', 'waiting'] } }, data: { state: 'cancelled', reason: 'its study was cancelled' } });
      }
      return { event, trials };
    });
    if (!changed) return this.act(projectId, id, action);
    const { event, trials } = changed;
    await this.announce(id, [event]);
    // The trials' jobs follow; the study's own state is already committed, and the scheduler of a
    // resumed study queues its trials' jobs again itself.
    const jobAction = action === 'cancel' ? 'cancel' : action === 'pause' ? 'pause' : null;
    if (jobAction) {
      for (const trial of trials) {
        const wanted = jobAction === 'cancel' ? ['training', 'waiting'] : ['training'];
        if (!wanted.includes(trial.state)) continue;
        await this.deps.jobs.act(projectId, trial.jobId, jobAction).catch((error: unknown) => {
          if (!(error instanceof ConflictError)) this.deps.logger.warn({ err: error, studyId: id, jobId: trial.jobId }, `could not ${jobAction} a trial's job`);
        });
      }
    }
    return this.get(projectId, id);
  }

  /** A new job with the best trial's spec, trained from scratch to `epochs` (the study's maxEpochs by default). */
  async trainBest(projectId: string, id: string, epochs?: number): Promise<SubmittedJob> {
    const study = await this.record(projectId, id);
    const view = await this.view(study);
    if (!view.best) throw new ConflictError(`study ${id} has no trial with a result yet`, {});
    const job = await this.deps.jobs.get(projectId, view.best.jobId);
    const { seed: _seed, ...spec } = job.spec;
    const parsed = jobSpecSchema.safeParse({ ...spec, seed: job.spec.seed, name: `${study.spec.name ?? 'study'}: best trial ${view.best.trial}`, epochs: epochs ?? study.spec.maxEpochs });
    if (!parsed.success) throw new ValidationError('the best trial spec is no longer valid', parsed.error.issues.map((issue) => ({ field: fieldFromPath(issue.path as (string | number)[]), message: issue.message })));
    const submitted = await this.deps.jobs.submit(projectId, parsed.data);
    await this.deps.store.setFinalJob(id, submitted.id);
    return submitted;
  }

  private async announce(id: string, events: StudyEventRecord[]): Promise<void> {
    await this.deps.publisher.publishAll(id, events).catch((error: unknown) => this.deps.logger.warn({ err: error, studyId: id }, 'could not publish study events'));
  }
}

/** In which statuses each action is accepted, and the status it leads to (the dashboard's buttons read it too). */
export const studyActions: Record<StudyAction, { from: StudyStatus[]; to: StudyStatus }> = {
  pause: { from: ['running'], to: 'paused' },
  resume: { from: ['paused'], to: 'running' },
  cancel: { from: ['running', 'paused'], to: 'cancelled' },
};

/** The parameter a problem at `field` comes from: the field is the parameter, lies inside it, or holds it. */
function paramAt(point: Record<string, unknown>, field: string): string | undefined {
  const within = (inner: string, outer: string) => inner === outer || inner.startsWith(`${outer}.`) || inner.startsWith(`${outer}[`);
  return Object.keys(point).find((path) => within(field, path)) ?? (field ? Object.keys(point).find((path) => within(path, field)) : undefined);
}

function invalidStudy(problems: FieldProblem[]): ValidationError {
  return new ValidationError(`invalid study: ${problems.map((p) => `${p.field}: ${p.message}`).join('; ')}`, problems);
}

