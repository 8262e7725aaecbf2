// Drives the demo in headless Chromium: loads a photo, presses a preset, and writes
// what the page computed (crop, AUs, edited floats and canvases, console errors) as
// JSON for tests/mobile_demo/test_web.py to compare with Python LiteRT.
//   node test_page.mjs URL PHOTO OUT.json [SCREENSHOT.png] [PRESET]
import {writeFileSync} from 'node:fs';
import {chromium} from 'playwright-core';

const [url, photo, outFile, screenshot, preset = 'happy'] = process.argv.slice(2);
// Headless Chromium has no GPU/NPU, and LiteRT.js logs its INFO lines as console errors.
const benign = /^INFO: |gpu|adapter|npu|webnn/i;

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
  args: ['--no-sandbox'],
});
try {
  const page = await browser.newPage();
  const errors = [];
  page.on('console', (m) => { if (m.type() === 'error' && !benign.test(m.text())) errors.push(m.text()); });
  page.on('pageerror', (e) => errors.push(String(e)));
  await page.goto(url);
  await page.waitForFunction(() => window.defganDemo.ready || window.defganDemo.errors.length,
                             null, {timeout: 60000});
  await page.setInputFiles('#file', photo);
  await page.waitForFunction(() => window.defganDemo.edits >= 1, null, {timeout: 60000});
  await page.click(`button[data-preset="${preset}"]`);
  await page.waitForFunction(() => window.defganDemo.edits >= 2,
                             null, {timeout: 60000});
  const result = await page.evaluate(() => {
    const s = window.defganDemo;
    const pixels = (id) => {
      const c = document.getElementById(id);
      return Array.from(c.getContext('2d').getImageData(0, 0, c.width, c.height).data);
    };
    return {crop: Array.from(s.crop.data), source: Array.from(s.source),
            target: s.last.target, edited: Array.from(s.last.edited),
            inputCanvas: pixels('input'), editedCanvas: pixels('edited'),
            size: s.meta.image_size, ms: s.lastMs, isolated: self.crossOriginIsolated,
            errors: s.errors};
  });
  result.errors.push(...errors);
  if (screenshot) await page.screenshot({path: screenshot, fullPage: true});
  writeFileSync(outFile, JSON.stringify(result));
} finally {
  await browser.close();
}
