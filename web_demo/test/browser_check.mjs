// Drives the demo in Chromium as a person would and prints one JSON report on stdout, which
// tests/test_web_demo.py checks against the Python runtime:
//   node test/browser_check.mjs BASE_URL SCREENSHOT.png
// BASE_URL serves the demo with exports at export/digits/ and export/int8/ (per-level),
// export/shared/ (the shared layout), export/corrupt/ (per-level, its first task's top level
// damaged) and export/corrupt_shared/ (shared, a block only its first task's top level uses
// damaged).
import {openBrowser} from './chromium.mjs';

const [base, screenshot] = process.argv.slice(2);
const TIMEOUT_MS = 30000;

async function openDemo(page, models) {
  await page.goto(new URL(`?models=export/${models}/`, base).href);
  await page.evaluate(() => window.demo.ready);
}

const state = (page) => page.evaluate(() => window.demo.state());

/** Waits until the served levels are those of ladder step `step`; returns the ms it took. */
async function waitForStep(page, step) {
  const started = Date.now();
  await page.waitForFunction((s) => {
    const {levels, ladder} = window.demo.state();
    return Object.entries(ladder[s - 1]).every(([task, level]) => levels[task] === level);
  }, step, {timeout: TIMEOUT_MS, polling: 20});
  return Date.now() - started;
}

/** Every sample of the served tasks, each classified for every served task. */
function classifySamples(page) {
  return page.evaluate(async () => {
    const results = [];
    for (const url of Object.values(window.demo.state().samples).flat()) {
      const sample = url.split('/').slice(-2).join('/');
      const result = await window.demo.classifyUrl(url);
      for (const [task, r] of Object.entries(result.tasks)) {
        results.push({sample, task, level: r.level, logits: r.logits, top1: r.top5[0][0]});
      }
    }
    return results;
  });
}

/** Moves the "memory available" slider as a person would (input event on the range). */
async function setBudget(page, bytes) {
  await page.locator('#budget').fill(String(Math.round(bytes)));
}

/**
 * With a sample classified without pause in the background: classify every sample at the
 * top step of the ladder, then lower the slider into each smaller step's band and classify
 * them there, then raise it back to the top. Returns the samples' results, the times each
 * switch took to show, the background loop's count of classifications, failures and levels
 * seen, and the switches.
 */
async function walkLadder(page) {
  const {needs, ladder, samples} = await state(page);
  await page.evaluate((url) => {
    const loop = {runs: 0, failures: [], levels: [], stop: false};
    window.backgroundLoop = loop;
    loop.done = (async () => {
      while (!loop.stop) {
        try {
          const result = await window.demo.classifyUrl(url);
          loop.runs += 1;
          const levels = JSON.stringify(Object.values(result.tasks).map((r) => r.level));
          if (!loop.levels.includes(levels)) loop.levels.push(levels);
        } catch (error) {
          loop.failures.push(error.message);
        }
        await new Promise((resolve) => setTimeout(resolve, 5));
      }
    })();
  }, Object.values(samples).flat()[0]);
  const results = await classifySamples(page);
  const steps = [];
  for (let step = ladder.length - 1; step >= 1; step--) {
    await setBudget(page, (needs[step] + needs[step + 1]) / 2);
    steps.push({to: step, ms: await waitForStep(page, step)});
    results.push(...await classifySamples(page));
  }
  const max = Number(await page.locator('#budget').getAttribute('max'));
  await setBudget(page, max);
  steps.push({to: ladder.length, ms: await waitForStep(page, ladder.length)});
  const loop = await page.evaluate(async () => {
    const loop = window.backgroundLoop;
    loop.stop = true;
    await loop.done;
    return {runs: loop.runs, failures: loop.failures, levels: loop.levels};
  });
  return {ladder, results, steps, loop, events: await page.evaluate(() => window.demo.events())};
}

/** The top-1 label each served task shows after `act` (which gives the page an image). */
async function shownTop1(page, act) {
  await page.evaluate(() => document.querySelector('#results').replaceChildren());
  await act();
  await page.waitForFunction(() => document.querySelectorAll('.task-result').length ===
                             window.demo.state().tasks.length, null, {timeout: TIMEOUT_MS});
  return page.$$eval('.task-result', (blocks) => Object.fromEntries(blocks.map(
      (block) => [block.dataset.task, block.querySelector('.top5 li b').textContent])));
}

/** A sample given through the file picker, then dropped on the drop zone: the top-1s shown. */
async function pickAndDrop(page) {
  const url = Object.values((await state(page)).samples)[0][2];
  const name = url.split('/').at(-1);
  const buffer = Buffer.from(await (await fetch(url)).arrayBuffer());
  const picked = await shownTop1(page, () => page.locator('#file').setInputFiles(
      {name, mimeType: 'image/png', buffer}));
  const dropped = await shownTop1(page, () => page.evaluate(async ({url, name}) => {
    const file = new File([await (await fetch(url)).blob()], name, {type: 'image/png'});
    const transfer = new DataTransfer();
    transfer.items.add(file);
    document.querySelector('#drop-zone').dispatchEvent(
        new DragEvent('drop', {dataTransfer: transfer, bubbles: true, cancelable: true}));
  }, {url, name}));
  return {sample: url.split('/').slice(-2).join('/'), picked, dropped};
}

/** Each task served alone, walked down its levels and back up. */
async function perTaskReport(page, models) {
  await openDemo(page, models);
  const report = {tasks: {}, threads: (await state(page)).threads,
                  status: await page.locator('#status').textContent(),
                  worst: (await state(page)).worst,
                  worstShown: await page.$$eval('#levels tbody tr', (rows) => rows.map((row) => [
                    row.dataset.task, Number(row.children[1].textContent),
                    row.querySelector('.worst').textContent]))};
  for (const task of (await state(page)).tasks) {
    await page.evaluate((t) => window.demo.setTasks([t]), task);
    report.tasks[task] = await walkLadder(page);
  }
  return report;
}

/**
 * Every task served at once (the page's default), walked down the joint ladder and back up;
 * then a picked and a dropped file, and the screenshot one step below the top (the tasks at
 * different levels).
 */
async function allTasksReport(page, models) {
  await openDemo(page, models);
  const {tasks, layout, needs, ladder} = await state(page);
  const report = {tasks, layout, walk: await walkLadder(page)};
  report.inputs = await pickAndDrop(page);
  const below = ladder.length - 1;
  await setBudget(page, (needs[below] + needs[below + 1]) / 2);
  await waitForStep(page, below);
  await shownTop1(page, () => page.locator('#samples button').nth(1).click());
  report.switchesShown = await page.$$eval('#switches li', (items) => items.map(
      (item) => item.textContent));
  report.modelFetches = await page.evaluate(() => performance.getEntriesByType('resource')
      .map((entry) => new URL(entry.name).pathname).filter((path) => path.endsWith('.tflite')));
  await page.screenshot({path: screenshot, fullPage: true});
  return report;
}

/** The page on an export with a damaged level: what it serves, shows and logs. */
async function corruptReport(page, models) {
  await openDemo(page, models);
  const {samples, tasks, levels} = await state(page);
  const result = await page.evaluate((url) => window.demo.classifyUrl(url),
                                     Object.values(samples).flat()[0]);
  return {events: await page.evaluate(() => window.demo.events()), levels,
          served: Object.fromEntries(tasks.map((task) => [task, result.tasks[task].level])),
          levelShown: await page.locator(`#levels tr.served[data-task="${tasks[0]}"] td`).nth(1)
              .textContent(),
          refusalShown: await page.locator('#switches li.refused').first().textContent()};
}

const browser = await openBrowser();
try {
  const report = {
    digits: await perTaskReport(browser.page, 'digits'),
    int8: await perTaskReport(browser.page, 'int8'),
    shared: await allTasksReport(browser.page, 'shared'),
    corrupt: await corruptReport(browser.page, 'corrupt'),
    corrupt_shared: await corruptReport(browser.page, 'corrupt_shared'),
  };
  report.errors = browser.errors;
  console.log(JSON.stringify(report));
} finally {
  await browser.close();
}
