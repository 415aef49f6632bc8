// The operator's dashboard against the demo (its synthetic payments run all along): the
// charts show the payments the demo makes, the budget left is the API's, health says the
// currency runs and what works, the live part refreshes by itself; it passes axe-core at
// phone and desktop size and fits a phone in large text.
//
// Signs in only as `operator` (the demo's operator).

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { BASE, apiSignIn, context, launch, signInWithForm, sweepPages } from './helpers.mjs';

let browser;
before(async () => {
  browser = await launch();
});
after(async () => {
  await browser?.close();
});

/** The subsidy budgets' total left, through the API. */
async function apiBudgetLeft(token) {
  const response = await fetch(new URL('/api/v1/operator/demo/budgets', BASE), {
    headers: { authorization: `Bearer ${token}` },
  });
  assert.equal(response.status, 200);
  return (await response.json()).reduce((sum, b) => sum + b.left, 0);
}

test('the dashboard shows the demo’s payments, the API’s budgets and the health', async () => {
  const ctx = await context(browser, 'desktop');
  try {
    const page = await ctx.newPage();
    await signInWithForm(page, 'operator');
    await page.waitForURL('**/console');
    assert.match(await page.textContent('h1'), /운영 현황/);
    assert.equal(await page.getAttribute('nav.tabs a[aria-current=page]', 'href'), '/console');
    // Health: the demo runs and takes payments.
    assert.equal(await page.getAttribute('#engine-state', 'data-state'), 'running');
    assert.equal(await page.getAttribute('#halt-state', 'data-halted'), 'false');
    assert.deepEqual(
      await page.evaluate(() => [...document.querySelectorAll('#works li')].map((li) => li.dataset.works)),
      ['true', 'true', 'true'],
    );
    assert.match(await page.getAttribute('#queue-depth', 'data-depth'), /^\d+$/);
    // Three charts, each with words and a table for screen readers.
    assert.equal(await page.locator('figure.chart svg').count(), 3);
    assert.equal(await page.locator('figure.chart table').count(), 3);
    // The demo pays all the time: after a refresh or two the payments are counted.
    let paid = 0;
    for (let i = 0; i < 6 && paid === 0; i++) {
      await page.waitForResponse((r) => r.url().includes('/console/live') && r.status() === 200, { timeout: 15_000 });
      paid = Number(await page.getAttribute('#payments-summary', 'data-total'));
    }
    assert.ok(paid > 0, 'no payments counted');
    assert.ok((await page.locator('#chart-payments rect').count()) > 0);
    // The budget left is the API's (bracketed by two equal API answers: cash-back moves it).
    const token = await apiSignIn('operator');
    let matched = false;
    for (let attempt = 0; attempt < 10 && !matched; attempt++) {
      const before = await apiBudgetLeft(token);
      const live = await ctx.request.get('/console/live');
      const html = await live.text();
      const after = await apiBudgetLeft(token);
      if (before !== after) continue;
      const shown = Number(/id="budget-summary" data-left="(-?\d+)"/.exec(html)?.[1]);
      assert.equal(shown, after);
      matched = true;
    }
    assert.ok(matched, 'the budgets kept changing under the test');
    assert.deepEqual(ctx.errors, []);
  } finally {
    await ctx.close();
  }
});

test('the dashboard is an operator’s: the auditor is told so (403)', async () => {
  const ctx = await context(browser, 'phone', { lang: 'en' });
  try {
    const page = await ctx.newPage();
    await signInWithForm(page, 'auditor');
    await page.waitForURL('**/audit');
    const r = await page.goto('/console');
    assert.equal(r.status(), 403);
  } finally {
    await ctx.close();
  }
});

sweepPages(
  'the dashboard',
  () => browser,
  async (page) => {
    await signInWithForm(page, 'operator');
    await page.waitForURL('**/console');
  },
  { console: { path: '/console', h1: { ko: /운영 현황/, en: /Dashboard/ } } },
);
