// Drives the demo in Chromium as a person would and prints one JSON report on stdout, which
// tests/test_web_demo.py checks against the Python runtime:
//   node test/browser_check.mjs BASE_URL SCREENSHOT.png
// BASE_URL serves the demo with exports at export/digits/, export/corrupt/ (its first task's
// top level damaged) and export/int8/.
import {openBrowser} from './chromium.mjs';

const [base, screenshot] = process.argv.slice(2);
const TIMEOUT_MS = 30000;

async function openDemo(page, models) {
  await page.goto(new URL(`?models=export/${models}/`, base).href);
  await page.evaluate(() => window.demo.ready);
}

const state = (page) => page.evaluate(() => window.demo.state());

async function waitForLevel(page, level) {
  const started = Date.now();
  await page.waitForFunction((l) => window.demo.state().level === l, level,
                             {timeout: TIMEOUT_MS, polling: 20});
  return Date.now() - started;
}

async function chooseTask(page, task) {
  if ((await state(page)).task === task) return;
  await page.selectOption('#task', task);
  await page.waitForFunction((t) => window.demo.state().task === t &&
                             window.demo.state().level !== null, task, {timeout: TIMEOUT_MS});
}

/** Every sample of the task classified at the level served now. */
function classifySamples(page) {
  return page.evaluate(async () => {
    const results = [];
    for (const url of window.demo.state().samples) {
      const result = await window.demo.classifyUrl(url);
      results.push({sample: url.split('/').at(-1), level: result.level, logits: result.logits,
                    top1: result.top5[0][0]});
    }
    return results;
  });
}

/** Moves the "memory available" slider as a person would (input event on the range). */
async function setBudget(page, bytes) {
  await page.locator('#budget').fill(String(Math.round(bytes)));
}

/**
 * With samples classified without pause in the background: classify every sample at the top
 * level, then lower the slider into each smaller level's band and classify them there, then
 * raise it back to the top. Returns the samples' results, the times each switch took to show,
 * and the background loop's count of classifications, failures and levels seen.
 */
async function walkLevels(page) {
  const {needs, level: top, samples} = await state(page);
  await page.evaluate((url) => {
    const loop = {runs: 0, failures: [], levels: [], stop: false};
    window.backgroundLoop = loop;
    loop.done = (async () => {
      while (!loop.stop) {
        try {
          const result = await window.demo.classifyUrl(url);
          loop.runs += 1;
          if (!loop.levels.includes(result.level)) loop.levels.push(result.level);
        } catch (error) {
          loop.failures.push(error.message);
        }
        await new Promise((resolve) => setTimeout(resolve, 5));
      }
    })();
  }, samples[0]);
  const results = await classifySamples(page);
  const steps = [];
  for (let level = top - 1; level >= 1; level--) {
    await setBudget(page, (needs[level] + needs[level + 1]) / 2);
    steps.push({to: level, ms: await waitForLevel(page, level)});
    results.push(...await classifySamples(page));
  }
  const max = Number(await page.locator('#budget').getAttribute('max'));
  await setBudget(page, max);
  steps.push({to: top, ms: await waitForLevel(page, top)});
  const loop = await page.evaluate(async () => {
    const loop = window.backgroundLoop;
    loop.stop = true;
    await loop.done;
    return {runs: loop.runs, failures: loop.failures, levels: loop.levels};
  });
  return {results, steps, loop, events: await page.evaluate(() => window.demo.events())};
}

/** The top-1 label the page shows after `act` (which gives it an image). */
async function shownTop1(page, act) {
  await page.evaluate(() => document.querySelector('#top5').replaceChildren());
  await act();
  await page.waitForFunction(() => document.querySelectorAll('#top5 li').length > 0,
                             null, {timeout: TIMEOUT_MS});
  return page.locator('#top5 li b').first().textContent();
}

/** A sample given through the file picker, then dropped on the drop zone: the top-1 shown. */
async function pickAndDrop(page) {
  const url = (await state(page)).samples[2];
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
  return {sample: name, picked, dropped};
}

async function exportReport(page, models, screenshotAfterFirstTask) {
  await openDemo(page, models);
  const report = {tasks: {}};
  const tasks = await page.$$eval('#task option', (options) => options.map((o) => o.value));
  for (const task of tasks) {
    await chooseTask(page, task);
    report.tasks[task] = await walkLevels(page);
    if (screenshotAfterFirstTask && task === tasks[0]) {
      report.tasks[task].inputs = await pickAndDrop(page);
      await shownTop1(page, () => page.locator('#samples button').nth(1).click());
      await page.screenshot({path: screenshot, fullPage: true});
    }
  }
  return report;
}

async function corruptReport(page) {
  await openDemo(page, 'corrupt');
  const {samples} = await state(page);
  const result = await page.evaluate((url) => window.demo.classifyUrl(url), samples[0]);
  return {events: await page.evaluate(() => window.demo.events()), served: result.level,
          levelShown: await page.locator('#levels tr.served td').first().textContent(),
          refusalShown: await page.locator('#switches li.refused').first().textContent()};
}

const browser = await openBrowser();
try {
  const report = {
    digits: await exportReport(browser.page, 'digits', true),
    int8: await exportReport(browser.page, 'int8', false),
    corrupt: await corruptReport(browser.page),
  };
  report.errors = browser.errors;
  console.log(JSON.stringify(report));
} finally {
  await browser.close();
}
