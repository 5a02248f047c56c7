import { studyStatusSchema } from './schemas/study-schemas.js';

export const studyStatuses = studyStatusSchema.options;
type StudyStatus = (typeof studyStatuses)[number];

/**
 * In which statuses the API accepts each study action, for the dashboard's buttons.
 * StudyService keeps its own table private (`studyActions` in src/studies/study-service.ts), so the
 * rule is stated here from what the routes do, and test/api/study-action-rules.test.ts holds it to
 * their answers in every status:
 * - POST /v1/studies/:id/{pause,resume,cancel} answers 409 outside `from`;
 * - POST /v1/studies/:id/train-best works in any status once a trial has a result (the study's
 *   `best`), and answers 409 before.
 */
export const studyActionRules = {
  pause: { from: ['running'], needsBest: false },
  resume: { from: ['paused'], needsBest: false },
  cancel: { from: ['running', 'paused'], needsBest: false },
  'train-best': { from: studyStatuses, needsBest: true },
} as const satisfies Record<string, { from: readonly StudyStatus[]; needsBest: boolean }>;

export type StudyActionName = keyof typeof studyActionRules;

/** A study that can no longer be cancelled has ended: its stream closes and its trials only settle. */
export const studyEndedStatuses: StudyStatus[] = studyStatuses.filter((status) => !(studyActionRules.cancel.from as readonly StudyStatus[]).includes(status));
