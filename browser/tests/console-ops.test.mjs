// The operator console's desk pages against the demo: halting the currency with a reason
// (confirmed first) shows on the public status page, and resuming brings it back; a
// notice published in the console shows there and on the status page. Every
// page passes axe-core at phone and desktop size and fits a phone in large text.
//
// Signs in only as `operator` (the demo's operator). Whatever fails, the currency is
// resumed through the API before the test ends.

import { randomUUID } from 'node:crypto';
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  BASE,
  apiSignIn,
  assertAccessible,
  context,
  launch,
  screenshot,
  signInWithForm,
  statusJson,
  sweepPages,
} from './helpers.mjs';

let browser;
let token;
before(async () => {
  browser = await launch();
  token = await apiSignIn('operator');
});
after(async () => {
  await browser?.close();
});

/** Resumes the demo through the API (a no-op answer if it runs already). */
async function apiResume() {
  await fetch(new URL('/api/v1/operator/demo/resume', BASE), {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'idempotency-key': randomUUID() },
  });
}

/** The demo's public status once it says `state` (answers are reused for up to 2 s). */
async function waitForState(state) {
  for (let i = 0; i < 50; i++) {
    const doc = await statusJson();
    const demo = doc.currencies.find((c) => c.code === 'demo');
    if (demo.state === state) return demo;
    await new Promise((r) => setTimeout(r, 200));
  }
  assert.fail(`the demo never became ${state}`);
}

test('halting asks first, citizens see the reason on /status, resuming undoes it', async () => {
  const ctx = await context(browser, 'desktop');
  const reason = `점검 중입니다 ${randomUUID().slice(0, 8)}`;
  try {
    const page = await ctx.newPage();
    await signInWithForm(page, 'operator');
    await page.waitForURL('**/console');
    await page.goto('/console/halt');
    assert.equal(await page.getAttribute('nav.tabs a[aria-current=page]', 'href'), '/console/halt');
    assert.equal(await page.getAttribute('#halt-now', 'data-halted'), 'false');
    await page.fill('#reason', reason);
    await page.click('form[action="/console/halt"] button[type=submit]');
    // The confirmation step: nothing halted yet.
    assert.equal((await page.textContent('#confirm-reason')).trim(), reason);
    assert.equal((await statusJson()).currencies.find((c) => c.code === 'demo').state, 'running');
    await page.click('form[action="/console/halt"] button[type=submit]');
    await page.waitForURL('**/console/halt?currency=demo');
    assert.equal(await page.getAttribute('#halt-now', 'data-halted'), 'true');
    // The public sees it, with the operator's words.
    const demo = await waitForState('halted');
    assert.equal(demo.reason.note, reason);
    const pub = await ctx.newPage();
    await pub.goto('/status');
    const card = pub.locator('section.currency[data-currency="demo"]');
    assert.equal(await card.getAttribute('data-state'), 'halted');
    assert.ok((await card.locator('p.note').textContent()).includes(reason));
    await pub.close();
    // The halted page, for the eye and axe, then resume with the button.
    await assertAccessible(page, 'console halt (halted)');
    await page.click('form[action="/console/resume"] button[type=submit]');
    await page.waitForURL('**/console/halt?currency=demo');
    assert.equal(await page.getAttribute('#halt-now', 'data-halted'), 'false');
    await waitForState('running');
    assert.deepEqual(ctx.errors, []);
  } finally {
    await apiResume();
    await ctx.close();
  }
  await waitForState('running');
});

test('a successor credential is issued after a confirmation and shown once, to copy', async () => {
  const ctx = await context(browser, 'phone');
  try {
    const page = await ctx.newPage();
    await signInWithForm(page, 'operator');
    await page.waitForURL('**/console');
    await page.goto('/console/halt');
    assert.ok(await page.isVisible('#credential-state'));
    await page.click('#issue-successor');
    // The confirmation step: nothing issued yet.
    assert.ok(await page.isVisible('div.alert-error[role=alert]'));
    assert.equal(await page.locator('#successor-credential').count(), 0);
    await page.click('form[action="/console/successor"] button[type=submit]');
    if (process.env.MAEUL_STORE === 'postgres') {
      // No operator change from a PostgreSQL store yet: said so, nothing issued.
      await page.waitForSelector('[role=alert]');
      assert.match(await page.content(), /cannot be made from a PostgreSQL store yet|PostgreSQL 저장소에서는/);
      assert.equal(await page.locator('#successor-credential').count(), 0);
      assert.deepEqual(ctx.errors.filter((e) => !/409/.test(e)), []);
      return;
    }
    const credential = (await page.textContent('#successor-credential')).trim();
    assert.match(credential, /^mhs_[0-9a-f]{64}$/);
    await assertAccessible(page, 'console successor credential');
    // Back on the page: when it was issued, never the credential itself.
    await page.goto('/console/halt');
    assert.ok(await page.isVisible('#credential-state time'));
    assert.ok(!(await page.content()).includes(credential));
    assert.deepEqual(ctx.errors, []);
  } finally {
    await ctx.close();
  }
});

test('a notice published in the console is listed there and on /status', async () => {
  const ctx = await context(browser, 'desktop');
  const tag = randomUUID().slice(0, 8);
  try {
    const page = await ctx.newPage();
    await signInWithForm(page, 'operator');
    await page.waitForURL('**/console');
    await page.goto('/console/notices');
    assert.equal(await page.getAttribute('nav.tabs a[aria-current=page]', 'href'), '/console/notices');
    await page.fill('#title_ko', `점검 안내 ${tag}`);
    await page.fill('#body_ko', '오늘 밤 잠시 멈춥니다.');
    await page.fill('#title_en', `Maintenance ${tag}`);
    await page.fill('#body_en', 'A short pause tonight.');
    await page.click('form[action="/console/notices"] button[type=submit]');
    await page.waitForURL('**/console/notices?currency=demo');
    assert.ok((await page.textContent('#notice-list li:first-child h3')).includes(`점검 안내 ${tag}`));
    // The public status page shows it too (its answers are reused for up to 2 s).
    let shown = false;
    for (let i = 0; i < 20 && !shown; i++) {
      const demo = (await statusJson()).currencies.find((c) => c.code === 'demo');
      shown = JSON.stringify(demo.notices).includes(tag);
      if (!shown) await new Promise((r) => setTimeout(r, 200));
    }
    assert.ok(shown, 'the notice is on the status document');
    const pub = await ctx.newPage();
    await pub.goto('/status');
    assert.ok((await pub.locator('section.currency[data-currency="demo"] .notices').textContent()).includes(tag));
    await pub.close();
    assert.deepEqual(ctx.errors, []);
  } finally {
    await ctx.close();
  }
});

/** The desk pages: path, screenshot name, heading in Korean and English. */
sweepPages(
  'the desk pages',
  () => browser,
  async (page) => {
    await signInWithForm(page, 'operator');
    await page.waitForURL('**/console');
  },
  {
    'console-halt': { path: '/console/halt', h1: { ko: /중지·재개/, en: /Halt and resume/ } },
    'console-notices': { path: '/console/notices', h1: { ko: /공지/, en: /Notices/ } },
  },
);
