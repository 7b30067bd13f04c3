/**
 * Budget policy: which level to run given the memory available now.
 *
 * A port of dvn_runtime/policy.py (and of the Android core's BudgetPolicy.java);
 * all three pass tests/fixtures/policy_vectors.json. JointPolicy, for several tasks under
 * one budget, is a port of dvn_runtime/multitask.py's (and JointPolicy.java); all three pass
 * tests/fixtures/joint_ladder_vectors.json.
 */

export const DOWNGRADE = 'downgrade';
export const UPGRADE = 'upgrade';

/**
 * Chooses a level from memory readings: downgrades at once, upgrades late.
 *
 * `need(level) = cost * (1 + marginFraction) + marginBytes`. The first reading
 * picks the largest allowed level that fits. Later, if the current level no
 * longer fits, it downgrades at once to the largest level that fits. If a
 * larger level fits even with `headroomBytes` to spare for `upgradeAfter`
 * consecutive readings, it upgrades to the smallest such larger level seen
 * during that streak. When nothing fits, the smallest allowed level is used.
 */
export class BudgetPolicy {
  /**
   * @param {Map<number, number>} costs level (1-based) -> memory cost in bytes
   *     (the manifest's `arena_bytes`).
   * @param {object} options marginFraction (0.10), marginBytes (0),
   *     headroomBytes (0), upgradeAfter (3), cap and floor (null: none).
   */
  constructor(costs, {marginFraction = 0.10, marginBytes = 0, headroomBytes = 0,
                      upgradeAfter = 3, cap = null, floor = null} = {}) {
    if (costs.size === 0) throw new RangeError('costs is empty: need at least one level.');
    for (const [level, cost] of costs) {
      if (!Number.isInteger(level) || level < 1 || !(cost >= 0)) {
        throw new RangeError(`costs must map levels >= 1 to bytes >= 0, got ${level}: ${cost}.`);
      }
    }
    for (const [name, value] of Object.entries({marginFraction, marginBytes, headroomBytes})) {
      if (!(value >= 0)) throw new RangeError(`${name} must be >= 0, got ${value}.`);
    }
    if (!(upgradeAfter >= 1)) {
      throw new RangeError(`upgradeAfter must be >= 1, got ${upgradeAfter}.`);
    }
    this.allowedLevels = [...costs.keys()]
        .filter((level) => (floor === null || level >= floor) && (cap === null || level <= cap))
        .sort((a, b) => a - b);
    if (this.allowedLevels.length === 0) {
      throw new RangeError(`no level is allowed: levels ${[...costs.keys()]}, ` +
                           `floor=${floor}, cap=${cap}.`);
    }
    this.costs = new Map(costs);
    this.marginFraction = marginFraction;
    this.marginBytes = marginBytes;
    this.headroomBytes = headroomBytes;
    this.upgradeAfter = upgradeAfter;
    this.current = null;
    this.reason = null;
    this.streak = 0;
    this.pending = null;
  }

  /** Bytes that must be available to run `level`, margins included. */
  need(level) {
    return this.costs.get(level) * (1 + this.marginFraction) + this.marginBytes;
  }

  /** Largest allowed level with need + extra <= available, else the smallest. */
  fit(available, extra = 0) {
    const fitting = this.allowedLevels.filter((level) => this.need(level) + extra <= available);
    return fitting.length ? fitting[fitting.length - 1] : this.allowedLevels[0];
  }

  /**
   * Feeds one reading of available bytes; returns the level to use now.
   * Afterwards `reason` is DOWNGRADE or UPGRADE if this reading changed the
   * level from a previous one, else null (also on the first reading).
   */
  update(available) {
    const previous = this.current;
    this.reason = null;
    if (previous === null) {
      this.current = this.fit(available);
      this.streak = 0;
    } else if (this.need(previous) > available) {
      this.current = this.fit(available);
      this.streak = 0;
      if (this.current !== previous) this.reason = DOWNGRADE;
    } else {
      this.considerUpgrade(available);
    }
    return this.current;
  }

  considerUpgrade(available) {
    const up = this.fit(available, this.headroomBytes);
    if (up <= this.current) {
      this.streak = 0;
      return;
    }
    this.pending = this.streak === 0 ? up : Math.min(this.pending, up);
    this.streak += 1;
    if (this.streak >= this.upgradeAfter) {
      this.current = this.pending;
      this.streak = 0;
      this.reason = UPGRADE;
    }
  }
}

/**
 * [{task: level}] from every task's lowest level to every task's top one. `levels` maps
 * each task to its levels, ascending; each step raises the task whose level is lowest in
 * its own list (ties: the first task in `levels`).
 */
export function jointLadder(levels) {
  const tasks = [...levels.keys()];
  const positions = new Map(tasks.map((task) => [task, 0]));
  const ladder = [Object.fromEntries(tasks.map((task) => [task, levels.get(task)[0]]))];
  for (;;) {
    const rising = tasks.filter((task) => positions.get(task) < levels.get(task).length - 1);
    if (rising.length === 0) return ladder;
    const task = rising.reduce((low, t) => (positions.get(t) < positions.get(low) ? t : low));
    positions.set(task, positions.get(task) + 1);
    ladder.push({...ladder.at(-1), [task]: levels.get(task)[positions.get(task)]});
  }
}

/**
 * A BudgetPolicy over the joint ladder of several tasks: each reading gives {task: level}.
 * `costs` maps each task (in priority order for ties) to a Map level -> memory cost of the
 * levels it may use; `options` are BudgetPolicy's, over the ladder's steps, each costing
 * the sum of its levels' costs.
 */
export class JointPolicy {
  constructor(costs, options = {}) {
    this.tasks = [...costs.keys()];
    this.ladder = jointLadder(new Map(this.tasks.map(
        (task) => [task, [...costs.get(task).keys()].sort((a, b) => a - b)])));
    this.stepCosts = new Map(this.ladder.map((config, i) => [i + 1, this.tasks.reduce(
        (sum, task) => sum + costs.get(task).get(config[task]), 0)]));
    this.policy = new BudgetPolicy(this.stepCosts, options);
  }

  /** Feeds one reading of available bytes; returns {task: level} to serve now. */
  update(available) {
    return this.ladder[this.policy.update(available) - 1];
  }
}
