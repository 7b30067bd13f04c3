/**
 * Serves one or several tasks at the levels that fit one memory budget, switching live.
 *
 * The levels come from a JointPolicy (policy.js): with one task its ladder is the task's
 * levels, with several it is the joint ladder of dvn_runtime/multitask.py. A switch is
 * make-before-break: the new level's model is fetched (per-level layout) or cut out of the
 * shared file, downloaded once (shared layout), checked against the manifest (size and
 * sha256), compiled and warmed up, then published; only then is the old level deleted, once
 * the classifications already running on it finish. A model that fails the check or that
 * LiteRT.js refuses is refused for good and the task's next smaller level is served.
 */
import {sha256} from '@noble/hashes/sha2.js';
import {bytesToHex} from '@noble/hashes/utils.js';

import {CompiledFile} from './litert_model.js';
import {cutOut, readIndex} from './cutout.js';
import {DOWNGRADE, JointPolicy, UPGRADE} from './policy.js';

export const INITIAL = 'initial';
export const REFUSED = 'refused';

/** One level's compiled model, deleted when closed and no classification uses it. */
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

async function fetchBytes(url, name) {
  const response = await fetch(url);
  if (!response.ok) throw new Error(`cannot fetch ${name} (HTTP ${response.status})`);
  return new Uint8Array(await response.arrayBuffer());
}

/**
 * The model bytes of the levels of a manifest: a per-level file as fetched, or a level cut
 * out of its shared file, which is fetched once (with its cut-out index) for every level.
 * Either is checked against the level's manifest entry (size and sha256).
 */
export class ModelSource {
  constructor(manifest) {
    this.files = manifest.files;
    this.shared = new Map();  // shared file name -> Promise of {bytes, index}
  }

  /** The shared file `name`, fetched once; its size checked against the manifest. */
  sharedFile(name) {
    if (!this.shared.has(name)) {
      const entry = this.files.get(name);
      const loaded = fetchBytes(entry.url, name).then((bytes) => {
        if (bytes.byteLength !== entry.bytes) {
          throw new Error(`${name} has ${bytes.byteLength} bytes, the manifest says ` +
                          `${entry.bytes}: the download was cut short or is from another export`);
        }
        return {bytes, index: readIndex(bytes)};
      });
      this.shared.set(name, loaded);
      loaded.catch(() => this.shared.delete(name));  // a later level may try again
    }
    return this.shared.get(name);
  }

  /** A level's model bytes, checked against its manifest entry. */
  async bytes(info) {
    let bytes;
    let what = info.file;
    if (info.signature === null) {
      bytes = await fetchBytes(info.url, info.file);
    } else {
      const shared = await this.sharedFile(info.file);
      what = `the cut-out of ${info.signature} from ${info.file}`;
      try {
        bytes = cutOut(shared.bytes, info.signature, shared.index);
      } catch (error) {
        throw new Error(`cannot cut ${info.signature} out of ${info.file}: ${error.message}`);
      }
    }
    const digest = bytesToHex(sha256(bytes));
    if (bytes.byteLength !== info.bytes || digest !== info.sha256) {
      throw new Error(`${what} does not match the manifest (${bytes.byteLength} bytes, sha256 ` +
                      `${digest.slice(0, 12)}..., expected ${info.bytes} bytes, sha256 ` +
                      `${info.sha256.slice(0, 12)}...): the file is corrupt or from another export`);
    }
    return bytes;
  }
}

/** One task's served level: loads the level asked for, or the next smaller usable one. */
class TaskServer {
  constructor(task, source, record) {
    this.task = task;
    this.source = source;
    this.record = record;
    this.levels = new Map(task.levels.map((info) => [info.level, info]));
    this.refused = new Set();
    this.active = null;
    this.closed = false;
  }

  /** The level served now, or null before the first reading. */
  get level() {
    return this.active ? this.active.level : null;
  }

  /** Classifies float input values with the level served now: {logits, level, info, ms}. */
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

  /** Serves `level` (or the next smaller usable one); returns the switch event, or null. */
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
                   ms: performance.now() - started, available};
    this.record(this.task, event);
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
        this.record(this.task, {reason: REFUSED, level: candidate, error: error.message});
      }
    }
    throw new Error(`task ${this.task.name} has no usable model at level ${level} or below ` +
                    `(refused levels: ${[...this.refused].sort()}): copy the export again`);
  }

  /** The level's model compiled, checked against the task's shapes, and run once. */
  async compileAndWarm(info) {
    const file = await CompiledFile.compile(await this.source.bytes(info));
    try {
      const {input} = this.task;
      const classes = this.task.labels.length;
      if (String(file.input.shape) !== String(input.shape) ||
          String(file.output.shape) !== String([1, classes])) {
        throw new Error(`${info.signature ?? info.file} takes [${file.input.shape}] and gives ` +
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

  /** Deletes the served level (after its running classifications). */
  close() {
    this.closed = true;
    this.active?.close();
    this.active = null;
  }
}

export class BudgetSwitcher {
  /**
   * @param tasks tasks of parseManifest's result, in priority order for ties on the ladder.
   * @param source the manifest's ModelSource (shared by switchers of the same export).
   * @param onEvent called with every switch {task, reason, from, to, ms, available, at}
   *     and every refusal {task, reason: REFUSED, level, error, at}.
   * @param policyOptions BudgetPolicy options (defaults as the Python runtime's).
   */
  constructor(tasks, source, onEvent = () => {}, policyOptions = {}) {
    this.joint = new JointPolicy(new Map(tasks.map((task) => [task.name, new Map(
        task.levels.map((info) => [info.level, info.arena_bytes]))])), policyOptions);
    this.events = [];
    const record = (task, details) => {
      const event = {task: task.name, ...details, at: new Date()};
      this.events.push(event);
      onEvent(event);
    };
    this.servers = new Map(tasks.map((task) => [task.name, new TaskServer(task, source, record)]));
    this.queue = Promise.resolve();
  }

  /** The policy over the ladder's steps (its need(step) and current step). */
  get policy() {
    return this.joint.policy;
  }

  /** {task: level served now (null before the first reading)}. */
  get levels() {
    return Object.fromEntries([...this.servers].map(([name, server]) => [name, server.level]));
  }

  /**
   * Feeds one reading of available bytes; switches the tasks the policy moves, those that go
   * down before those that go up, one at a time. Readings are handled in the order fed.
   */
  observe(available) {
    const handled = this.queue.then(() => this.observeNow(available));
    this.queue = handled.catch(() => {});
    return handled;
  }

  async observeNow(available) {
    const target = this.joint.update(available);
    const current = this.levels;
    const goesUp = (name) => current[name] !== null && target[name] > current[name];
    const order = [...this.servers.keys()].sort((a, b) => goesUp(a) - goesUp(b));
    const events = [];
    for (const name of order) {
      if (current[name] !== null && target[name] === current[name]) continue;
      const reason = current[name] === null ? INITIAL
          : target[name] < current[name] ? DOWNGRADE : UPGRADE;
      const event = await this.servers.get(name).switchTo(target[name], reason, available);
      if (event) events.push(event);
    }
    return events;
  }

  /** Classifies float input values for `task` with its level served now. */
  classify(task, values) {
    return this.servers.get(task).classify(values);
  }

  /** Deletes every served level (after its running classifications). */
  close() {
    for (const server of this.servers.values()) server.close();
  }
}
