// The pages without JavaScript (blocked, failed to load, or an old phone): everything
// is there, the switches work and are remembered, and the status page offers its own
// refresh link instead of refreshing itself.

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { BASE, SIZES, launch } from './helpers.mjs';

let browser;
before(async () => {
  browser = await launch();
});
after(async () => {
  await browser?.close();
});

test('without JavaScript the pages, the switches and the status all work', async () => {
  const ctx = await browser.newContext({
    ...SIZES.phone,
    locale: 'ko-KR',
    baseURL: BASE,
    javaScriptEnabled: false,
  });
  try {
    const page = await ctx.newPage();
    await page.goto('/status');
    assert.equal(await page.getAttribute('html', 'lang'), 'ko');
    assert.ok((await page.locator('section.currency[data-currency="demo"] .state .label').textContent()).trim());
    await page.getByRole('link', { name: 'English', exact: true }).click();
    await page.waitForURL('**/status');
    assert.equal(await page.getAttribute('html', 'lang'), 'en');
    await page.getByRole('link', { name: 'Turn on large text' }).click();
    await page.waitForURL('**/status');
    assert.equal(await page.getAttribute('html', 'class'), 'large-text');
    await page.reload();
    assert.equal(await page.getAttribute('html', 'lang'), 'en');
    assert.equal(await page.getAttribute('html', 'class'), 'large-text');
    // The refresh link brings a newer answer.
    const before = await page.getAttribute('.updated time', 'datetime');
    await new Promise((r) => setTimeout(r, 1100));
    await page.locator('main').getByRole('link', { name: 'Refresh' }).click();
    await page.waitForURL('**/status');
    const after = await page.getAttribute('.updated time', 'datetime');
    assert.notEqual(after, before);
    await page.getByRole('link', { name: 'Home', exact: true }).click();
    await page.waitForURL((url) => url.pathname === '/');
    assert.equal((await page.textContent('h1')).trim(), 'maeul, money for your neighbourhood');
  } finally {
    await ctx.close();
  }
});
