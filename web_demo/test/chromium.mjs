// Debian's Chromium driven by playwright-core: headless, offline, with a fresh profile.
import {mkdtempSync, rmSync} from 'node:fs';
import {tmpdir} from 'node:os';
import {join} from 'node:path';

import {chromium} from 'playwright-core';

export const CHROMIUM = process.env.DVN_CHROMIUM ?? '/usr/bin/chromium';
const FLAGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
               '--disable-background-networking', '--disable-component-update', '--disable-sync'];

/**
 * Opens a page in a new Chromium with a fresh profile; returns {page, errors, close}.
 * Page errors and console errors are collected in `errors`, except LiteRT.js's
 * notes that there is no GPU and its runtime's INFO and WARNING log lines.
 */
export async function openBrowser({width = 1100, height = 600} = {}) {
  const profile = mkdtempSync(join(tmpdir(), 'dvn-chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM, headless: true, args: FLAGS, viewport: {width, height}});
  const page = context.pages()[0] ?? await context.newPage();
  const errors = [];
  page.on('pageerror', (error) => errors.push(error.message));
  page.on('console', (message) => {
    const text = message.text();
    if (message.type() === 'error' && !/GPU|adapter|^(INFO|WARNING): /.test(text)) {
      errors.push(text);
    }
  });
  return {page, errors, close: async () => {
    await context.close();
    rmSync(profile, {recursive: true, force: true});
  }};
}
