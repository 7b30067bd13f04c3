/**
 * Reads an export's manifest.json (format 1 or 2, see DESIGN.md) into what the demo
 * needs: each task's labels and input, and its levels with their files' URLs; with
 * the shared layout (format 2), the shared files and each level's signature in one.
 */

const LAYOUTS = {1: 'per-level', 2: 'shared'};  // format -> layout
const REEXPORT = 'export again with `python -m export --workdir=DIR`';

function check(condition, message) {
  if (!condition) throw new Error(`manifest.json: ${message}; ${REEXPORT}`);
}

function parseInput(raw, where) {
  check(raw && Array.isArray(raw.shape) && raw.shape.length === 4 &&
          raw.shape.every((d) => Number.isInteger(d) && d > 0),
          `${where}.shape must be [B, H, W, C], got ${JSON.stringify(raw?.shape)}`);
  const [batch, height, width, channels] = raw.shape;
  check(batch === 1, `${where}.shape has batch ${batch}, but this demo classifies one ` +
                       'image at a time: export with --batch=1 (the default)');
  check(channels === 1 || channels === 3, `${where}.shape must have 1 or 3 channels`);
  for (const key of ['mean', 'std']) {
    check(Array.isArray(raw[key]) && [1, channels].includes(raw[key].length) &&
            raw[key].every(Number.isFinite), `${where}.${key} must hold 1 or C numbers`);
  }
  check(raw.std.every((s) => s > 0), `${where}.std must be > 0`);
  return {shape: raw.shape, height, width, channels, mean: raw.mean, std: raw.std};
}

function parseFiles(raw, url) {
  check(Array.isArray(raw.files) && raw.files.length > 0, 'files is missing or empty');
  return new Map(raw.files.map((entry, i) => {
    check(typeof entry.file === 'string' && Number.isInteger(entry.bytes) &&
            /^[0-9a-f]{64}$/.test(entry.sha256), `files[${i}] needs file, bytes and sha256`);
    return [entry.file, {...entry, url: new URL(entry.file, url).href}];
  }));
}

/**
 * A model's optional per_class_recall (recall in [0, 1] or null per class, logit order) as
 * an array; null when the manifest has none (exports made before it).
 */
function parseRecall(raw, classes, where) {
  if (raw === undefined) return null;
  check(Array.isArray(raw) && raw.length === classes &&
          raw.every((r) => r === null || (Number.isFinite(r) && r >= 0 && r <= 1)),
        `${where}: per_class_recall must hold ${classes} recalls in [0, 1] or null`);
  return raw;
}

/**
 * {label, recall} of the first class of lowest recall, classes of null recall skipped;
 * null when there is no recall to compare.
 */
export function worstClass(recall, labels) {
  let worst = -1;
  (recall ?? []).forEach((r, i) => {
    if (r !== null && (worst < 0 || r < recall[worst])) worst = i;
  });
  return worst < 0 ? null : {label: labels[worst], recall: recall[worst]};
}

/**
 * The manifest document `raw` (fetched from `url`) as {scenario, layout, files, tasks:
 * [{name, labels, input, levels: [{level, url, signature, perClassRecall, worst, ...model}]}]},
 * levels ascending; `perClassRecall` is the model's held-out recall per class (null when the
 * manifest has none) and `worst` its worst class as {label, recall} (or null);
 * file URLs are resolved against the manifest's URL. With the shared layout `files` maps
 * each shared file's name to {file, bytes, sha256, url} and every level names its
 * signature there; with the per-level layout `files` is empty and signatures are null.
 */
export function parseManifest(raw, url) {
  check(raw && LAYOUTS[raw.format], `format must be 1 or 2, got ${raw?.format}`);
  const layout = raw.layout ?? LAYOUTS[raw.format];
  check(layout === LAYOUTS[raw.format],
        `format ${raw.format} has layout ${LAYOUTS[raw.format]}, not ${layout}`);
  const files = layout === 'shared' ? parseFiles(raw, url) : new Map();
  const shared = raw.input ? parseInput(raw.input, 'input') : null;
  check(Array.isArray(raw.tasks) && raw.tasks.length > 0, 'tasks is empty');
  check(Array.isArray(raw.models), 'models is missing');
  const tasks = raw.tasks.map((task, i) => {
    check(typeof task.name === 'string' && Array.isArray(task.labels) &&
            task.labels.length === task.num_classes, `tasks[${i}] needs name and labels`);
    const input = task.input ? parseInput(task.input, `tasks[${i}].input`) : shared;
    check(input, `tasks[${i}] has no input and there is no top-level input`);
    const levels = raw.models.filter((model) => model.task === task.name)
        .map((model) => {
          const where = `the model of task ${task.name} level ${model.level}`;
          check(/^[0-9a-f]{64}$/.test(model.sha256) && Number.isInteger(model.level) &&
                  Number.isInteger(model.arena_bytes) && typeof model.file === 'string',
                  `${where} lacks a field`);
          if (layout === 'shared') {
            check(typeof model.signature === 'string', `${where} has no signature`);
            check(files.has(model.file), `${where} names ${model.file}, not one of the files`);
          }
          const perClassRecall = parseRecall(model.per_class_recall, task.labels.length, where);
          return {...model, signature: model.signature ?? null,
                  url: new URL(model.file, url).href, perClassRecall,
                  worst: worstClass(perClassRecall, task.labels)};
        })
        .sort((a, b) => a.level - b.level);
    check(levels.length > 0, `task ${task.name} has no models`);
    return {name: task.name, labels: task.labels, input, levels};
  });
  return {scenario: raw.scenario, layout, files, tasks};
}

/** Fetches and parses `url` (a manifest.json); throws a one-line Error on failure. */
export async function loadManifest(url) {
  const response = await fetch(url);
  if (!response.ok) {
    throw new Error(`cannot fetch ${url} (HTTP ${response.status}): serve an export there, ` +
                    'e.g. `make web-demo WORKDIR=runs/digits`');
  }
  return parseManifest(await response.json(), response.url);
}

/** The export's sample images per task ({task: [URL]}), from samples/index.json; {} if none. */
export async function loadSamples(manifestUrl) {
  const index = new URL('samples/index.json', manifestUrl);
  const response = await fetch(index);
  if (!response.ok) return {};
  const files = await response.json();
  return Object.fromEntries(Object.entries(files).map(([task, names]) => [
    task, names.map((name) => new URL(`samples/${task}/${name}`, manifestUrl).href)]));
}
