/**
 * The demo page: loads an export (?models=URL of its folder, default export/), per-level
 * or shared layout, serves the chosen tasks (all of them at first) at the levels that fit
 * one memory budget, and classifies sample images, files, dropped images and camera frames
 * for every served task. ?threads=N sets LiteRT.js's threads (default: one per core, at
 * most 4; always 1 on a page that is not cross-origin isolated).
 *
 * `window.demo` lets scripts (tests, benchmarks) drive the page and read what it shows:
 * `ready`, `classifyUrl(url)`, `setTasks(names)`, `state()`, `events()`.
 */
import {startLiteRt} from './litert_model.js';
import {loadManifest, loadSamples} from './manifest.js';
import {drawPixels, normalize, probabilities, topK} from './preprocess.js';
import {BudgetSwitcher, ModelSource, REFUSED} from './switcher.js';

const READING_INTERVAL_MS = 250;
const WASM_DIRECTORY = new URL('../node_modules/@litertjs/core/wasm/', import.meta.url).href;
const parameters = new URLSearchParams(location.search);
const modelsUrl = new URL(parameters.get('models') ?? 'export/', location.href);
const $ = (selector) => document.querySelector(selector);
/** Text from the export (labels, names, errors) as HTML that shows it verbatim. */
const escape = (text) => String(text).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
const state = {manifest: null, source: null, samples: {}, tasks: [], switcher: null,
               liteRtMs: null, threads: null};

function formatBytes(bytes) {
  if (bytes >= 2 ** 30) return `${(bytes / 2 ** 30).toFixed(1)} GiB`;
  if (bytes >= 2 ** 20) return `${(bytes / 2 ** 20).toFixed(2)} MiB`;
  return `${Math.round(bytes / 1024)} KiB`;
}

function showError(error) {
  $('#error').textContent = error.message ?? String(error);
  $('#error').hidden = false;
}

/** Bytes available now: navigator.deviceMemory (GiB) when chosen, else the slider. */
function availableBytes() {
  if ($('#use-device-memory').checked) return navigator.deviceMemory * 2 ** 30;
  return Number($('#budget').value);
}

/** A level's worst class and its held-out recall, e.g. 'dog 12.5%'; '-' if the manifest has none. */
function describeWorst(info) {
  return info.worst ? `${info.worst.label} ${(100 * info.worst.recall).toFixed(1)}%` : '-';
}

/** The ladder (a row per step: each task's level, its cost and need) and each level's figures. */
function renderLevels() {
  const {switcher, tasks} = state;
  const {joint} = switcher;
  const served = switcher.levels;
  $('#ladder thead').innerHTML = '<tr><th>step</th>' +
      tasks.map((task) => `<th>${escape(task.name)}</th>`).join('') +
      '<th>memory cost</th><th>needs</th><th></th></tr>';
  $('#ladder tbody').innerHTML = joint.ladder.map((config, i) => {
    const step = i + 1;
    const chosen = joint.policy.current === step;
    return `<tr class="${chosen ? 'served' : ''}"><td>${step}</td>` +
        tasks.map((task) => `<td>${config[task.name]}</td>`).join('') +
        `<td>${formatBytes(joint.stepCosts.get(step))}</td>` +
        `<td>${formatBytes(joint.policy.need(step))}</td><td>${chosen ? 'chosen' : ''}</td></tr>`;
  }).join('');
  $('#levels tbody').innerHTML = tasks.flatMap((task) => task.levels.map((info) => {
    const refused = switcher.events.find((e) => e.reason === REFUSED && e.task === task.name &&
                                               e.level === info.level);
    const isServed = served[task.name] === info.level;
    const note = refused ? `refused: ${refused.error}` : isServed ? 'served' : '';
    return `<tr class="${refused ? 'refused' : isServed ? 'served' : ''}" ` +
        `data-task="${escape(task.name)}"><td>${escape(task.name)}</td><td>${info.level}</td>` +
        `<td>${info.params.toLocaleString('en')}</td><td>${formatBytes(info.bytes)}</td>` +
        `<td>${formatBytes(info.arena_bytes)}</td>` +
        `<td>${(100 * info.accuracy_tflite).toFixed(1)}%</td>` +
        `<td class="worst">${escape(describeWorst(info))}</td><td>${escape(note)}</td></tr>`;
  })).join('');
  $('#budget-value').textContent = formatBytes(availableBytes());
}

function logEvent(event) {
  const item = document.createElement('li');
  const time = event.at.toLocaleTimeString('en-GB', {hour12: false}) +
      `.${String(event.at.getMilliseconds()).padStart(3, '0')}`;
  if (event.reason === REFUSED) {
    item.className = 'refused';
    item.textContent = `${time} ${event.task}: refused level ${event.level}: ${event.error}`;
  } else {
    const from = event.from === null ? '' : `level ${event.from} → `;
    item.textContent = `${time} ${event.task}: ${event.reason}, ${from}level ${event.to} in ` +
        `${event.ms.toFixed(1)} ms (available ${formatBytes(event.available)})`;
  }
  $('#switches').prepend(item);
  renderLevels();
}

/**
 * Serves the tasks `names` (in the manifest's order) under one budget with a new switcher
 * (the old one's levels are deleted); resolves once every task has a level.
 */
async function setTasks(names) {
  const tasks = state.manifest.tasks.filter((task) => names.includes(task.name));
  const unknown = names.filter((name) => !tasks.some((task) => task.name === name));
  if (unknown.length || !tasks.length) {
    throw new Error(`unknown tasks ${unknown}; the export has ` +
                    state.manifest.tasks.map((task) => task.name).join(', '));
  }
  state.switcher?.close();
  state.tasks = tasks;
  for (const box of document.querySelectorAll('#tasks input')) {
    box.checked = names.includes(box.value);
  }
  state.switcher = new BudgetSwitcher(tasks, state.source, logEvent);
  const {policy} = state.switcher;
  $('#budget').max = Math.ceil(2 * policy.need(policy.allowedLevels.at(-1)) / 1024) * 1024;
  $('#budget').value = $('#budget').max;
  $('#results').replaceChildren();
  renderSamples();
  await state.switcher.observe(availableBytes());
  renderLevels();
}

/** Reads the budget every READING_INTERVAL_MS and feeds it to the switcher. */
async function watchBudget() {
  for (;;) {
    try {
      await state.switcher.observe(availableBytes());
      renderLevels();
    } catch (error) {
      showError(error);
    }
    await new Promise((resolve) => setTimeout(resolve, READING_INTERVAL_MS));
  }
}

/** One task's result block: its top 5 and the level that gave them. */
function renderResult(task, result, best) {
  const block = document.createElement('div');
  block.className = 'task-result';
  block.dataset.task = task.name;
  block.innerHTML = `<h3>${escape(task.name)}</h3><ol class="top5">` +
      best.map(([label, p]) => `<li><b>${escape(label)}</b> ${(100 * p).toFixed(1)}%` +
               `<span class="bar" style="width:${Math.round(100 * p)}px"></span></li>`).join('') +
      `</ol><p class="level-note">level ${result.level} of ${task.levels.length}, ` +
      `${result.info.params.toLocaleString('en')} params, ${result.ms.toFixed(2)} ms` +
      (result.info.worst ? `; its worst class: ${escape(describeWorst(result.info))} recall` : '') +
      '</p>';
  return block;
}

/**
 * Classifies an image source (image, bitmap, video, canvas) for every served task and shows
 * each task's top 5: {tasks: {name: {top5, logits, level, ms}}}.
 */
async function classify(source) {
  const {switcher, tasks} = state;
  const results = {};
  const blocks = [];
  for (const task of tasks) {
    const pixels = drawPixels(source, task.input.width, task.input.height);
    const result = await switcher.classify(task.name, normalize(pixels, task.input));
    const best = topK(probabilities(result.logits), 5).map(([i, p]) => [task.labels[i], p]);
    results[task.name] = {top5: best, logits: Array.from(result.logits), level: result.level,
                          ms: result.ms};
    blocks.push(renderResult(task, result, best));
  }
  const preview = $('#preview').getContext('2d');
  preview.imageSmoothingEnabled = false;
  preview.drawImage(source, 0, 0, preview.canvas.width, preview.canvas.height);
  $('#results').replaceChildren(...blocks);
  return {tasks: results};
}

async function classifyBlob(blob) {
  return classify(await createImageBitmap(blob));
}

async function classifyUrl(url) {
  const response = await fetch(url);
  if (!response.ok) throw new Error(`cannot fetch ${url} (HTTP ${response.status})`);
  return classifyBlob(await response.blob());
}

/** The served tasks' sample images ({task: [URL]}). */
function servedSamples() {
  return Object.fromEntries(state.tasks.map((task) => [task.name,
                                                       state.samples[task.name] ?? []]));
}

function renderSamples() {
  const urls = Object.values(servedSamples()).flat();
  $('#samples').replaceChildren(...urls.map((url) => {
    const button = document.createElement('button');
    button.title = url.split('/').slice(-2).join('/');
    button.innerHTML = `<img src="${escape(url)}" alt="${escape(button.title)}">`;
    button.addEventListener('click', () => {
      document.querySelectorAll('#samples .chosen').forEach((b) => b.classList.remove('chosen'));
      button.classList.add('chosen');
      classifyUrl(url).catch(showError);
    });
    return button;
  }));
}

function wireInputs() {
  $('#tasks').addEventListener('change', () => {
    const names = [...document.querySelectorAll('#tasks input:checked')].map((box) => box.value);
    if (names.length) setTasks(names).catch(showError);
  });
  $('#budget').addEventListener('input', () => {
    $('#use-device-memory').checked = false;
    renderLevels();
  });
  if (navigator.deviceMemory) {
    $('#device-memory').textContent = `${navigator.deviceMemory} GiB`;
    $('#device-memory-choice').hidden = false;
  }
  $('#file').addEventListener('change', (e) => {
    if (e.target.files[0]) classifyBlob(e.target.files[0]).catch(showError);
  });
  const zone = $('#drop-zone');
  zone.addEventListener('dragover', (e) => { e.preventDefault(); zone.classList.add('over'); });
  zone.addEventListener('dragleave', () => zone.classList.remove('over'));
  zone.addEventListener('drop', (e) => {
    e.preventDefault();
    zone.classList.remove('over');
    const file = [...e.dataTransfer.files].find((f) => f.type.startsWith('image/'));
    if (file) classifyBlob(file).catch(showError);
  });
  if (navigator.mediaDevices?.getUserMedia) {  // secure contexts only (localhost or https)
    $('#camera-start').hidden = false;
    $('#camera-start').addEventListener('click', async () => {
      try {
        $('#camera').srcObject = await navigator.mediaDevices.getUserMedia(
            {video: {facingMode: 'environment'}});
        $('#camera-view').hidden = false;
      } catch (error) {
        showError(new Error(`no camera: ${error.message}`));
      }
    });
    $('#camera-snap').addEventListener('click', () => classify($('#camera')).catch(showError));
  }
}

/** The export's layout as people read it: the shared file's size, or the per-level files'. */
function describeLayout(manifest) {
  if (manifest.layout === 'shared') {
    const bytes = [...manifest.files.values()].reduce((sum, file) => sum + file.bytes, 0);
    return `Shared layout: one file of ${formatBytes(bytes)}, downloaded once; each served ` +
           'level is cut out of it and checked against the manifest.';
  }
  return 'Per-level layout: a file per (task, level), each checked against the manifest.';
}

async function main() {
  wireInputs();
  const manifestUrl = new URL('manifest.json', modelsUrl).href;
  state.manifest = await loadManifest(manifestUrl);
  const threads = parameters.has('threads') ? Number(parameters.get('threads')) : null;
  if (threads !== null && !(Number.isInteger(threads) && threads >= 1)) {
    throw new Error(`?threads=${parameters.get('threads')} is not a number of threads >= 1`);
  }
  const started = performance.now();
  // Alive at once: a level per task, one being switched to, and one a script compiles.
  state.threads = await startLiteRt(WASM_DIRECTORY, threads, state.manifest.tasks.length + 2);
  state.liteRtMs = performance.now() - started;
  const used = `${state.threads} thread${state.threads === 1 ? '' : 's'}`;
  const why = crossOriginIsolated ? 'cross-origin isolated' : 'not cross-origin isolated';
  $('#status').textContent = `LiteRT.js (WebAssembly, ${used}: ${why}) ready in ` +
      `${state.liteRtMs.toFixed(0)} ms; models from ${modelsUrl.href}`;
  state.source = new ModelSource(state.manifest);
  state.samples = await loadSamples(manifestUrl);
  $('#scenario').textContent = `${state.manifest.scenario}: ${state.manifest.tasks.length} tasks`;
  $('#layout').textContent = describeLayout(state.manifest);
  $('#tasks').innerHTML = state.manifest.tasks.map((task) => `<label><input type="checkbox" ` +
      `value="${escape(task.name)}"> ${escape(task.name)}</label>`).join('');
  await setTasks(state.manifest.tasks.map((task) => task.name));
  watchBudget();
}

const ready = main();
ready.catch(showError);

window.demo = {
  ready,
  classifyUrl,
  setTasks,
  /**
   * {tasks: [served task names], levels: {task: level served (null while loading)},
   *  step: the ladder step chosen, ladder: [{task: level}], needs: {step: bytes},
   *  samples: {task: [URL]}, layout, threads, liteRtMs: LiteRT.js's start-up time,
   *  worst: {task: {label, recall} of the served level's worst class, or null}}.
   */
  state: () => {
    const joint = state.switcher?.joint;
    return {
      tasks: state.tasks.map((task) => task.name),
      levels: state.switcher?.levels ?? {},
      step: joint?.policy.current ?? null,
      ladder: joint?.ladder ?? [],
      needs: Object.fromEntries(joint?.ladder.map((_, i) => [i + 1, joint.policy.need(i + 1)]) ??
                                []),
      samples: servedSamples(),
      layout: state.manifest?.layout ?? null,
      threads: state.threads,
      liteRtMs: state.liteRtMs,
      worst: Object.fromEntries(state.tasks.map((task) => [task.name, task.levels.find(
          (info) => info.level === state.switcher?.levels[task.name])?.worst ?? null])),
    };
  },
  /** The switches and refusals of the served tasks so far, oldest first. */
  events: () => state.switcher.events.map((e) => ({...e, at: e.at.toISOString()})),
};
