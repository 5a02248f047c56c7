import { studyActions } from '../studies/study-service.js';
import { studyStatusSchema } from './schemas/study-schemas.js';

export const studyStatuses = studyStatusSchema.options;
type StudyStatus = (typeof studyStatuses)[number];

/**
 * In which statuses the API accepts each study action, for the dashboard's buttons: pause, resume
 * and cancel from StudyService's own table; train-best works in any status once a trial has a
 * result (the study's `best`). test/api/study-action-rules.test.ts holds this to the routes' answers.
 */
export const studyActionRules = {
  pause: { from: studyActions.pause.from, needsBest: false },
  resume: { from: studyActions.resume.from, needsBest: false },
  cancel: { from: studyActions.cancel.from, needsBest: false },
  'train-best': { from: studyStatuses, needsBest: true },
} as const satisfies Record<string, { from: readonly StudyStatus[]; needsBest: boolean }>;

export type StudyActionName = keyof typeof studyActionRules;

/** A study that can no longer be cancelled has ended: its stream closes and its trials only settle. */
export const studyEndedStatuses: StudyStatus[] = studyStatuses.filter((status) => !studyActionRules.cancel.from.includes(status));
