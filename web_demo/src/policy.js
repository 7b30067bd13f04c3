/**
 * Budget policy: which level to run given the memory available now.
 *
 * A port of dvn_runtime/policy.py (and of the Android core's BudgetPolicy.java);
 * all three pass tests/fixtures/policy_vectors.json.
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
