/**
 * The demo page: loads an export (?models=URL of its folder, default export/),
 * serves the chosen task at the level that fits the memory budget, and
 * classifies sample images, files, dropped images and camera frames.
 *
 * `window.demo` lets scripts (tests, benchmarks) drive the page and read what
 * it shows: `ready`, `classifyUrl(url)`, `setTask(name)`, `state()`, `events()`.
 */
import {startLiteRt} from './litert_model.js';
import {loadManifest, loadSamples} from './manifest.js';
import {drawPixels, normalize, probabilities, topK} from './preprocess.js';
import {LevelSwitcher, REFUSED} from './switcher.js';

const READING_INTERVAL_MS = 250;
const WASM_DIRECTORY = new URL('../node_modules/@litertjs/core/wasm/', import.meta.url).href;
const modelsUrl = new URL(new URLSearchParams(location.search).get('models') ?? 'export/',
                          location.href);
const $ = (selector) => document.querySelector(selector);
/** Text from the export (labels, names, errors) as HTML that shows it verbatim. */
const escape = (text) => String(text).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
const state = {manifest: null, samples: {}, task: null, switcher: null, liteRtMs: null};

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

function renderLevels() {
  const {switcher} = state;
  const rows = state.task.levels.map((info) => {
    const refused = switcher.events.find((e) => e.reason === REFUSED && e.level === info.level);
    const served = switcher.level === info.level;
    const note = refused ? `refused: ${refused.error}` : served ? 'served' : '';
    return `<tr class="${refused ? 'refused' : served ? 'served' : ''}">` +
        `<td>${info.level}</td><td>${info.params.toLocaleString('en')}</td>` +
        `<td>${formatBytes(info.bytes)}</td><td>${formatBytes(info.arena_bytes)}</td>` +
        `<td>${formatBytes(switcher.policy.need(info.level))}</td>` +
        `<td>${(100 * info.accuracy_tflite).toFixed(1)}%</td><td>${escape(note)}</td></tr>`;
  });
  $('#levels tbody').innerHTML = rows.join('');
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

/** Serves `name` with a new switcher (the old one is deleted); resolves once a level is served. */
async function setTask(name) {
  state.switcher?.close();
  state.task = state.manifest.tasks.find((task) => task.name === name);
  if (!state.task) throw new Error(`unknown task ${name}`);
  $('#task').value = name;
  const top = state.task.levels.at(-1);
  state.switcher = new LevelSwitcher(state.task, logEvent);
  $('#budget').max = Math.ceil(2 * state.switcher.policy.need(top.level) / 1024) * 1024;
  $('#budget').value = $('#budget').max;
  renderSamples();
  await state.switcher.observe(availableBytes());
  renderLevels();
}

/** Reads the budget every READING_INTERVAL_MS and feeds it to the task's switcher. */
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

/** Classifies an image source (image, bitmap, video, canvas) and shows the top 5. */
async function classify(source) {
  const {input, labels} = state.task;
  const pixels = drawPixels(source, input.width, input.height);
  const result = await state.switcher.classify(normalize(pixels, input));
  const best = topK(probabilities(result.logits), 5).map(([i, p]) => [labels[i], p]);
  const preview = $('#preview').getContext('2d');
  preview.imageSmoothingEnabled = false;
  preview.drawImage(source, 0, 0, preview.canvas.width, preview.canvas.height);
  $('#top5').innerHTML = best.map(([label, p]) => `<li><b>${escape(label)}</b> ` +
      `${(100 * p).toFixed(1)}%` +
      `<span class="bar" style="width:${Math.round(120 * p)}px"></span></li>`).join('');
  $('#served').textContent = `level ${result.level} of ${state.task.levels.length}, ` +
      `${result.info.params.toLocaleString('en')} params, ${result.ms.toFixed(2)} ms`;
  return {top5: best, logits: Array.from(result.logits), level: result.level, ms: result.ms};
}

async function classifyBlob(blob) {
  return classify(await createImageBitmap(blob));
}

async function classifyUrl(url) {
  const response = await fetch(url);
  if (!response.ok) throw new Error(`cannot fetch ${url} (HTTP ${response.status})`);
  return classifyBlob(await response.blob());
}

function renderSamples() {
  const urls = state.samples[state.task.name] ?? [];
  $('#samples').replaceChildren(...urls.map((url) => {
    const button = document.createElement('button');
    button.title = url.split('/').at(-1);
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
  $('#task').addEventListener('change', (e) => setTask(e.target.value).catch(showError));
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

async function main() {
  wireInputs();
  const started = performance.now();
  await startLiteRt(WASM_DIRECTORY);
  state.liteRtMs = performance.now() - started;
  $('#status').textContent = `LiteRT.js (WebAssembly, 1 thread) ready in ` +
      `${state.liteRtMs.toFixed(0)} ms; models from ${modelsUrl.href}`;
  const manifestUrl = new URL('manifest.json', modelsUrl).href;
  state.manifest = await loadManifest(manifestUrl);
  state.samples = await loadSamples(manifestUrl);
  $('#scenario').textContent = `${state.manifest.scenario}: ${state.manifest.tasks.length} tasks`;
  $('#task').innerHTML = state.manifest.tasks.map((t) => `<option>${escape(t.name)}</option>`)
      .join('');
  await setTask(state.manifest.tasks[0].name);
  watchBudget();
}

const ready = main();
ready.catch(showError);

window.demo = {
  ready,
  classifyUrl,
  setTask,
  /**
   * {task, level served (null while loading), needs {level: bytes}, samples [URL],
   *  liteRtMs: LiteRT.js's start-up time}.
   */
  state: () => ({
    task: state.task?.name ?? null,
    level: state.switcher?.level ?? null,
    needs: Object.fromEntries(state.task?.levels.map(
        (info) => [info.level, state.switcher.policy.need(info.level)]) ?? []),
    samples: state.samples[state.task?.name] ?? [],
    liteRtMs: state.liteRtMs,
  }),
  /** The task's switches and refusals so far, oldest first. */
  events: () => state.switcher.events.map((e) => ({...e, at: e.at.toISOString()})),
};
