/**
 * Serves one task at the level that fits the memory budget, switching live.
 *
 * A switch is make-before-break: the new level's file is fetched, checked
 * against the manifest (size and sha256), compiled and warmed up, then
 * published; only then is the old level deleted, once the classifications
 * already running on it finish. A file that fails the check or that LiteRT.js
 * refuses is refused for good and the next smaller level is served.
 */
import {sha256} from '@noble/hashes/sha2.js';
import {bytesToHex} from '@noble/hashes/utils.js';

import {CompiledFile} from './litert_model.js';
import {BudgetPolicy} from './policy.js';

export const INITIAL = 'initial';
export const REFUSED = 'refused';

/** One level's compiled file, deleted when closed and no classification uses it. */
class ServedLevel {
  constructor(info, file) {
    this.info = info;
    this.file = file;
    this.users = 0;
    this.closing = false;
  }

  get level() {
    return this.info.level;
  }

  retain() {
    this.users += 1;
  }

  release() {
    this.users -= 1;
    if (this.closing && this.users === 0) this.file.delete();
  }

  close() {
    this.closing = true;
    if (this.users === 0) this.file.delete();
  }
}

/** Fetches a level's file and checks it against its manifest entry; returns its bytes. */
async function fetchVerified(info) {
  const response = await fetch(info.url);
  if (!response.ok) throw new Error(`cannot fetch ${info.file} (HTTP ${response.status})`);
  const bytes = new Uint8Array(await response.arrayBuffer());
  const digest = bytesToHex(sha256(bytes));
  if (bytes.byteLength !== info.bytes || digest !== info.sha256) {
    throw new Error(`${info.file} does not match the manifest (${bytes.byteLength} bytes, ` +
                    `sha256 ${digest.slice(0, 12)}..., expected ${info.bytes} bytes, sha256 ` +
                    `${info.sha256.slice(0, 12)}...): the file is corrupt or from another export`);
  }
  return bytes;
}

export class LevelSwitcher {
  /**
   * @param task a task of parseManifest's result.
   * @param onEvent called with every switch {task, reason, from, to, ms, available, at}
   *     and every refusal {task, reason: REFUSED, level, error, at}.
   * @param policyOptions BudgetPolicy options (defaults as the Python runtime's).
   */
  constructor(task, onEvent = () => {}, policyOptions = {}) {
    this.task = task;
    this.levels = new Map(task.levels.map((info) => [info.level, info]));
    this.policy = new BudgetPolicy(
        new Map(task.levels.map((info) => [info.level, info.arena_bytes])), policyOptions);
    this.onEvent = onEvent;
    this.events = [];
    this.refused = new Set();
    this.active = null;
    this.closed = false;
    this.queue = Promise.resolve();
  }

  /** The level served now, or null before the first reading. */
  get level() {
    return this.active ? this.active.level : null;
  }

  /**
   * Feeds one reading of available bytes; switches if the policy says so.
   * Readings are handled one at a time, in the order they were fed.
   */
  observe(available) {
    const handled = this.queue.then(() => this.observeNow(available));
    this.queue = handled.catch(() => {});
    return handled;
  }

  async observeNow(available) {
    const level = this.policy.update(available);
    if (this.active && this.policy.reason === null) return null;
    return this.switchTo(level, this.policy.reason ?? INITIAL, available);
  }

  /**
   * Classifies float input values with the level served now:
   * {logits, level, info, ms}. The level cannot be deleted while it runs.
   */
  async classify(values) {
    const served = this.active;
    if (!served) throw new Error('no level is served yet: feed a memory reading first');
    served.retain();
    try {
      const started = performance.now();
      const logits = await served.file.run(values);
      return {logits, level: served.level, info: served.info, ms: performance.now() - started};
    } finally {
      served.release();
    }
  }

  /** Deletes the served level (after its running classifications). */
  close() {
    this.closed = true;
    this.active?.close();
    this.active = null;
  }

  async switchTo(level, reason, available) {
    const previous = this.active;
    const started = performance.now();
    const next = await this.loadAtOrBelow(level, previous);
    if (next === previous) return null;
    if (this.closed) {
      next.close();
      return null;
    }
    this.active = next;
    const event = {reason, from: previous ? previous.level : null, to: next.level,
                   ms: performance.now() - started, available, at: new Date()};
    this.record(event);
    previous?.close();
    return event;
  }

  async loadAtOrBelow(level, current) {
    const candidates = [...this.levels.keys()]
        .filter((candidate) => candidate <= level && !this.refused.has(candidate))
        .sort((a, b) => b - a);
    for (const candidate of candidates) {
      if (current && candidate === current.level) return current;
      const info = this.levels.get(candidate);
      try {
        return new ServedLevel(info, await this.compileAndWarm(info));
      } catch (error) {
        this.refused.add(candidate);
        this.record({reason: REFUSED, level: candidate, error: error.message, at: new Date()});
      }
    }
    throw new Error(`task ${this.task.name} has no usable model at level ${level} or below ` +
                    `(refused levels: ${[...this.refused].sort()}): copy the export again`);
  }

  /** The level's file compiled, checked against the task's shapes, and run once. */
  async compileAndWarm(info) {
    const file = await CompiledFile.compile(await fetchVerified(info));
    try {
      const {input} = this.task;
      const classes = this.task.labels.length;
      if (String(file.input.shape) !== String(input.shape) ||
          String(file.output.shape) !== String([1, classes])) {
        throw new Error(`${info.file} takes [${file.input.shape}] and gives ` +
                        `[${file.output.shape}], but the manifest says [${input.shape}] and ` +
                        `${classes} classes`);
      }
      await file.run(new Float32Array(input.height * input.width * input.channels));
      return file;
    } catch (error) {
      file.delete();
      throw error;
    }
  }

  record(details) {
    const event = {task: this.task.name, ...details};
    this.events.push(event);
    this.onEvent(event);
  }
}
