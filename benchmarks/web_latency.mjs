// The browser half of benchmarks/web_latency.py: opens the web demo (served at BASE_URL with
// the export at export/) in Chromium and prints one JSON object: LiteRT.js's start-up time
// and threads, the page weight, and for every (task, level) the load + compile and run times.
// A shared-layout export's models are cut out of its file by the demo's cutout.js, as the
// demo serves them.
//   node benchmarks/web_latency.mjs BASE_URL LOADS RUNS
import {openBrowser} from '../web_demo/test/chromium.mjs';

const [base, loads, runs] = [process.argv[2], Number(process.argv[3]), Number(process.argv[4])];
const BLOCKS = 20;  // RUNS is a multiple of it
const browser = await openBrowser();
try {
  const {page} = browser;
  await page.goto(base);
  await page.evaluate(() => window.demo.ready);
  const weight = await page.evaluate(() => performance.getEntriesByType('navigation')
      .concat(performance.getEntriesByType('resource'))
      .map((entry) => ({url: entry.name, bytes: entry.decodedBodySize})));
  const models = await page.evaluate(async ({loads, runs, BLOCKS}) => {
    const {CompiledFile} = await import('./src/litert_model.js');
    const {cutOut} = await import('./src/cutout.js');
    const manifest = await (await fetch('export/manifest.json')).json();
    const fetchBytes = async (file) => new Uint8Array(
        await (await fetch(`export/${file}`)).arrayBuffer());
    const shared = new Map();  // a shared file's bytes, fetched once
    const modelBytes = async (model) => {
      if (!model.signature) return fetchBytes(model.file);
      if (!shared.has(model.file)) shared.set(model.file, await fetchBytes(model.file));
      return cutOut(shared.get(model.file), model.signature);
    };
    // Two passes over every model; the first warms V8's wasm tiers and is not reported.
    let out;
    for (let pass = 0; pass < 2; pass++) {
      out = [];
      for (const model of manifest.models) {
        const bytes = await modelBytes(model);
        const loadTimes = [];
        let file = null;
        for (let i = 0; i < loads; i++) {
          file?.delete();
          const started = performance.now();
          file = await CompiledFile.compile(bytes);
          loadTimes.push(performance.now() - started);
        }
        const count = file.input.shape.reduce((a, b) => a * b, 1);
        const values = Float32Array.from({length: count}, (_, i) => Math.sin(i));
        for (let i = 0; i < 3; i++) await file.run(values);
        // performance.now() ticks in 0.1 ms steps here: time blocks of runs, keep their means.
        const runTimes = [];
        for (let block = 0; block < BLOCKS; block++) {
          const started = performance.now();
          for (let i = 0; i < runs / BLOCKS; i++) await file.run(values);
          runTimes.push((performance.now() - started) / (runs / BLOCKS));
        }
        file.delete();
        out.push({task: model.task, level: model.level, load_ms: Math.min(...loadTimes),
                  latency_ms: Math.min(...runTimes)});
      }
    }
    return out;
  }, {loads, runs, BLOCKS});
  const {liteRtMs, threads} = await page.evaluate(() => window.demo.state());
  console.log(JSON.stringify({startup_ms: liteRtMs, threads, weight, models}));
} finally {
  await browser.close();
}
