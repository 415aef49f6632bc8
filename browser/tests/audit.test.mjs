// The auditor's desk against the demo: the totals by account kind sum to zero and match
// the API's, the journal verification runs in the background with its progress and
// ends "all good", the hashes are copyable; it works without JavaScript, passes axe-core
// at phone and desktop size, and fits a phone in large text.
//
// Signs in only as `auditor` (the demo's auditor).

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  BASE,
  SIZES,
  apiSignIn,
  assertAccessible,
  context,
  launch,
  screenshot,
  signInWithForm,
  sweepPages,
} from './helpers.mjs';

let browser;
before(async () => {
  browser = await launch();
});
after(async () => {
  await browser?.close();
});

/** `GET /api/v1/audit/demo/totals` as the auditor. */
async function apiTotals(token) {
  const response = await fetch(new URL('/api/v1/audit/demo/totals', BASE), {
    headers: { authorization: `Bearer ${token}` },
  });
  assert.equal(response.status, 200);
  return response.json();
}

/** Waits until the verification on the page has ended; its state (`ok` or `bad`). */
async function verificationEnd(page) {
  const done = page.locator('#verify-progress[data-state="ok"], #verify-progress[data-state="bad"]');
  await done.waitFor({ timeout: 120_000 });
  return done.getAttribute('data-state');
}

test('the auditor verifies the journal and sees the totals sum to zero', async () => {
  const ctx = await context(browser, 'desktop');
  await ctx.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: BASE });
  try {
    const page = await ctx.newPage();
    await signInWithForm(page, 'auditor');
    await page.waitForURL('**/audit');
    assert.match(await page.textContent('h1'), /감사 데스크/);
    // The totals are the API's: the same kinds, each sum zero.
    const token = await apiSignIn('auditor');
    const api = await apiTotals(token);
    const shown = await page.evaluate(() =>
      [...document.querySelectorAll('table.totals tbody tr')].map((tr) => tr.dataset.kind),
    );
    assert.deepEqual(shown, api.by_account_kind.map((k) => k.kind));
    assert.equal(await page.getAttribute('#totals-sum', 'data-amount'), '0');
    assert.equal(api.sum, 0);
    assert.match(await page.textContent('.zero-sum'), /합계가 0원입니다/);
    assert.match((await page.textContent('#state-hash')).trim(), /^[0-9a-f]{32,64}$/);
    assert.match((await page.textContent('#head-hash')).trim(), /^[0-9a-f]{64}$/);
    const headSeq = Number(await page.getAttribute('#head-seq', 'data-seq'));
    assert.ok(headSeq > 0);

    // Verification: started with the button, followed by polling, ends all good.
    await page.getByRole('button', { name: /검증/ }).click();
    assert.equal(await verificationEnd(page), 'ok');
    assert.match(await page.textContent('#verify-result'), /이상 없음/);
    const checked = Number(await page.getAttribute('#verify-checked', 'data-checked'));
    const total = Number(await page.getAttribute('#verify-checked', 'data-total'));
    assert.ok(checked >= headSeq && checked === total, `${checked} of ${total}, head ${headSeq}`);
    assert.match((await page.textContent('#verify-chain-hash')).trim(), /^[0-9a-f]{64}$/);
    // The finished verification stays on the desk after a reload.
    await page.reload();
    assert.equal(await page.getAttribute('#verify-progress', 'data-state'), 'ok');

    // The state hash copies with its button.
    const copy = page.locator('button[data-copy="state-hash"]');
    await copy.click();
    await page.waitForFunction(() =>
      document.querySelector('button[data-copy="state-hash"]').textContent.includes('복사했습니다'),
    );
    const copied = await page.evaluate(() => navigator.clipboard.readText());
    assert.equal(copied, (await page.textContent('#state-hash')).trim());
    assert.deepEqual(ctx.errors, []);
  } finally {
    await ctx.close();
  }
});

test('the desk and its verification work without JavaScript', async () => {
  const ctx = await browser.newContext({ ...SIZES.phone, locale: 'ko-KR', baseURL: BASE, javaScriptEnabled: false });
  try {
    const page = await ctx.newPage();
    await signInWithForm(page, 'auditor');
    await page.waitForURL('**/audit');
    // No copy buttons without a script to copy with.
    assert.equal(await page.locator('button[data-copy]').first().isVisible(), false);
    await page.locator('#verify-start').click();
    await page.waitForURL('**/audit?currency=demo');
    for (let i = 0; i < 120; i++) {
      const state = await page.getAttribute('#verify-progress', 'data-state');
      if (state === 'ok' || state === 'bad') break;
      await new Promise((r) => setTimeout(r, 500));
      await page.reload();
    }
    assert.equal(await page.getAttribute('#verify-progress', 'data-state'), 'ok');
  } finally {
    await ctx.close();
  }
});

test('a form without its token is refused', async () => {
  const ctx = await context(browser, 'desktop');
  try {
    const page = await ctx.newPage();
    await signInWithForm(page, 'auditor');
    await page.waitForURL('**/audit');
    let r = await ctx.request.post('/audit/verify', { form: { currency: 'demo' }, maxRedirects: 0 });
    assert.equal(r.status(), 403);
    const csrf = await page.getAttribute('#verify-progress input[name=csrf]', 'value');
    r = await ctx.request.post('/audit/verify', {
      form: { csrf, currency: 'demo' },
      headers: { origin: 'http://evil.example' },
      maxRedirects: 0,
    });
    assert.equal(r.status(), 403);
  } finally {
    await ctx.close();
  }
});

sweepPages(
  "the auditor's desk",
  () => browser,
  async (page) => {
    await signInWithForm(page, 'auditor');
    await page.waitForURL('**/audit');
    // A finished verification on the page, as an auditor would see it.
    if ((await page.getAttribute('#verify-progress', 'data-state')) === 'none') {
      await page.locator('#verify-start').click();
    }
    await verificationEnd(page);
  },
  {
    audit: {
      path: '/audit',
      h1: { ko: /감사 데스크/, en: /Auditor's desk/ },
      // The report is checked open; the screenshot shows it closed.
      ready: async (page) => {
        await page.locator('details.report summary').click();
        await assertAccessible(page, 'audit, the report open');
        await page.locator('details.report summary').click();
      },
    },
  },
);
