import request from 'supertest';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { studyActionRules, studyEndedStatuses, studyStatuses, type StudyActionName } from '../../src/api/study-action-rules.js';
import { startHarness, type Harness } from '../support/harness.js';
import { tinyIrisSpec } from '../support/specs.js';

// No worker and no scheduler: the study stays as this test sets it, and no trial ever has a result.
let harness: Harness;
beforeAll(async () => {
  harness = await startHarness('study-action-rules', { TRAINYARD_BACKEND: 'wasm' });
});
afterAll(async () => harness?.close());

const api = () => request(harness.app.server);

it("the dashboard's study action rules are what the routes answer, in every status", async () => {
  const created = await api()
    .post('/v1/studies')
    .send({ base: tinyIrisSpec(), space: { learningRate: { type: 'logUniform', low: 1e-3, high: 0.1 } }, objective: { metric: 'loss' }, algorithm: { type: 'random' }, maxTrials: 1 });
  expect(created.status, JSON.stringify(created.body)).toBe(201);
  const id = created.body.id as string;

  const answers: string[] = [];
  const expected: string[] = [];
  for (const status of studyStatuses) {
    for (const action of Object.keys(studyActionRules) as StudyActionName[]) {
      await harness.services.prisma.study.update({ where: { id }, data: { status } });
      const response = await api().post(`/v1/studies/${id}/${action}`).send({});
      const rule = studyActionRules[action];
      // Without a result no trial is best: train-best is refused in every status.
      const accepted = (rule.from as readonly string[]).includes(status) && !rule.needsBest;
      answers.push(`${action} when ${status}: ${response.status}`);
      expected.push(`${action} when ${status}: ${accepted ? 200 : 409}`);
    }
  }
  expect(answers).toEqual(expected);
  expect(studyEndedStatuses).toEqual(['cancelled', 'succeeded', 'failed']);
});
