// The JS BudgetPolicy against the vectors shared with dvn_runtime/policy.py and the Java core.
import assert from 'node:assert/strict';
import {readFileSync} from 'node:fs';
import {test} from 'node:test';

import {BudgetPolicy} from '../src/policy.js';

const fixture = JSON.parse(readFileSync(
    new URL('../../tests/fixtures/policy_vectors.json', import.meta.url), 'utf8'));

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
