// The JS BudgetPolicy and JointPolicy against the vectors shared with dvn_runtime (policy.py,
// multitask.py) and the Java core.
import assert from 'node:assert/strict';
import {readFileSync} from 'node:fs';
import {test} from 'node:test';

import {BudgetPolicy, JointPolicy} from '../src/policy.js';

const readFixture = (name) => JSON.parse(readFileSync(
    new URL(`../../tests/fixtures/${name}`, import.meta.url), 'utf8'));
const fixture = readFixture('policy_vectors.json');
const jointFixture = readFixture('joint_ladder_vectors.json');

function policyOf(testCase, overrides = {}) {
  const costs = new Map(Object.entries(testCase.costs).map(([level, cost]) => [Number(level), cost]));
  const options = testCase.policy;
  return new BudgetPolicy(costs, {
    marginFraction: options.margin_fraction, marginBytes: options.margin_bytes,
    headroomBytes: options.headroom_bytes, upgradeAfter: options.upgrade_after,
    cap: options.cap, floor: options.floor, ...overrides});
}

function levels(policy, readings) {
  return readings.map((available) => policy.update(available));
}

test('the fixture has cases', () => {
  assert.equal(fixture.format, 1);
  assert.ok(fixture.cases.length >= 8);
});

for (const testCase of fixture.cases) {
  test(testCase.name, () => {
    assert.deepEqual(levels(policyOf(testCase), testCase.available), testCase.expected_levels);
  });
}

test('the vectors catch a policy that upgrades at once or ignores the margins', () => {
  for (const overrides of [{upgradeAfter: 1}, {marginFraction: 0, marginBytes: 0},
                           {headroomBytes: 0}, {cap: null}, {floor: null}]) {
    const wrong = fixture.cases.filter((testCase) => JSON.stringify(
        levels(policyOf(testCase, overrides), testCase.available)) !==
        JSON.stringify(testCase.expected_levels));
    assert.ok(wrong.length > 0, `no vector detects ${JSON.stringify(overrides)}`);
  }
});

test('reasons of each change', () => {
  const testCase = fixture.cases.find((c) => c.name.startsWith('downgrade_is_immediate'));
  const policy = policyOf(testCase);
  const reasons = testCase.available.map((available) => (policy.update(available), policy.reason));
  assert.deepEqual(reasons, [null, 'downgrade', null, null, 'upgrade', null, 'downgrade']);
});

test('invalid arguments are refused with the values received', () => {
  assert.throws(() => new BudgetPolicy(new Map()), /costs is empty/);
  assert.throws(() => new BudgetPolicy(new Map([[1, 10], [2, 20]]), {cap: 1, floor: 2}),
                /no level is allowed/);
  assert.throws(() => new BudgetPolicy(new Map([[0, 10]])), /levels >= 1/);
  assert.throws(() => new BudgetPolicy(new Map([[1, 10]]), {upgradeAfter: 0}),
                /upgradeAfter must be >= 1, got 0/);
});

for (const testCase of jointFixture.cases) {
  test(`joint ladder: ${testCase.name}`, () => {
    const options = testCase.policy;
    const joint = new JointPolicy(new Map(testCase.tasks.map((task) => [task.name, new Map(
        Object.entries(task.costs).map(([level, cost]) => [Number(level), cost]))])), {
      marginFraction: options.margin_fraction, marginBytes: options.margin_bytes,
      headroomBytes: options.headroom_bytes, upgradeAfter: options.upgrade_after});
    const inTaskOrder = (config) => testCase.tasks.map((task) => config[task.name]);
    assert.deepEqual(joint.ladder.map(inTaskOrder), testCase.expected_ladder);
    assert.deepEqual(testCase.available.map((available) => inTaskOrder(joint.update(available))),
                     testCase.expected_levels);
  });
}
