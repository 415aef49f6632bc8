// The operator console's money pages against the demo: funding a subsidy budget (wrong
// amounts named and kept, a confirmation first) makes it grow; the report by day and
// month downloads as CSV in UTF-8 (with a BOM) and CP949, formula-safe; a broken
// scheme file shows its problems with their lines and keeps the text, and a version
// saved for tomorrow is pending in the timeline until it is withdrawn. Every page
// passes axe-core at phone and desktop size and fits a phone in large text.
//
// Signs in only as `operator` (the demo's operator). The version saved for tomorrow is
// withdrawn (through the API if the page failed), so the scheme in force stays the
// demo's for the other test files.

import { readFile } from 'node:fs/promises';
import { randomUUID } from 'node:crypto';
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  BASE,
  apiSignIn,
  assertAccessible,
  context,
  launch,
  signInWithForm,
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

async function api(path, { method = 'GET', body } = {}) {
  const headers = { authorization: `Bearer ${token}` };
  if (method !== 'GET') headers['idempotency-key'] = randomUUID();
  if (body) headers['content-type'] = 'application/json';
  const response = await fetch(new URL(path, BASE), {
    method,
    headers,
    body: body && JSON.stringify(body),
  });
  const text = await response.text();
  return { status: response.status, json: text ? JSON.parse(text) : null };
}

/** The demo's budget `id` through the API. */
async function apiBudget(id) {
  const { status, json } = await api('/api/v1/operator/demo/budgets');
  assert.equal(status, 200);
  return json.find((b) => b.account === id);
}

/** Withdraws every pending scheme version of the demo through the API, newest first. */
async function withdrawPending() {
  const { json } = await api('/api/v1/operator/demo/scheme');
  for (const v of [...json].reverse()) {
    if (v.state !== 'pending') break;
    await api(`/api/v1/operator/demo/scheme/${v.version}/withdraw`, { method: 'POST' });
  }
}

async function signedIn(size) {
  const ctx = await context(browser, size);
  const page = await ctx.newPage();
  await signInWithForm(page, 'operator');
  await page.waitForURL('**/console');
  return { ctx, page };
}

test('funding a budget names a wrong amount, asks first, and the budget grows', async () => {
  const { ctx, page } = await signedIn('desktop');
  try {
    await page.goto('/console/budgets');
    assert.equal(await page.getAttribute('nav.tabs a[aria-current=page]', 'href'), '/console/budgets');
    // The demo's cash-back budget, with the scheme's ceilings as meters.
    const card = page.locator('li.budget[data-budget="4"]');
    assert.match(await card.locator('h2').textContent(), /캐시백/);
    assert.equal(await card.locator('meter').count(), 2);
    // Each wrong amount is named, and what was typed stays in the field.
    for (const [typed, words] of [
      ['abc', /숫자로만/],
      ['0', /0원은/],
      ['-5,000', /음수는/],
      ['2,000,000,000,000', /1조 원/],
    ]) {
      await page.selectOption('#budget', '4');
      await page.fill('#amount', typed);
      const [response] = await Promise.all([
        page.waitForResponse((r) => r.url().endsWith('/console/budgets/fund')),
        page.click('#fund button[type=submit]'),
      ]);
      assert.equal(response.status(), 400, typed);
      assert.equal(await page.getAttribute('#fund-error', 'data-code'), 'amount_invalid');
      assert.match(await page.textContent('#fund-error'), words);
      assert.equal(await page.inputValue('#amount'), typed);
      assert.equal(await page.getAttribute('#amount', 'aria-invalid'), 'true');
      assert.equal(await page.inputValue('#budget'), '4');
    }
    await assertAccessible(page, 'console budgets (a wrong amount)');
    // Money funded is money left plus money spent: that sum grows by the amount.
    const funded = (b) => b.left + b.spent_total;
    const before = await apiBudget(4);
    await page.fill('#amount', '1,000,000');
    await page.click('#fund button[type=submit]');
    // The confirmation: the amount and the budget, nothing funded yet.
    assert.equal(await page.getAttribute('#confirm-amount', 'data-amount'), '1000000');
    assert.match(await page.textContent('#confirm-fund-title'), /4/);
    assert.equal(funded(await apiBudget(4)), funded(before));
    await assertAccessible(page, 'console budgets (confirm)');
    await page.click('#fund-now');
    await page.waitForURL('**/console/budgets?currency=demo&funded=4');
    assert.equal(await page.getAttribute('#funded', 'data-budget'), '4');
    const afterwards = await apiBudget(4);
    assert.equal(funded(afterwards), funded(before) + 1_000_000);
    const shownLeft = Number(await card.locator('.budget-left').getAttribute('data-left'));
    assert.ok(shownLeft > before.left, `${shownLeft} left after funding, ${before.left} before`);
    assert.deepEqual(ctx.errors, []);
  } finally {
    await ctx.close();
  }
});

/** The report page, waiting out a verification or another report (503, Retry-After). */
async function openReport(page) {
  for (let i = 0; i < 20; i++) {
    const response = await page.goto('/console/report');
    if (response.status() === 200) return;
    assert.equal(response.status(), 503);
    assert.ok(Number(response.headers()['retry-after']) > 0);
    assert.equal(await page.getAttribute('#report-busy', 'data-code'), 'busy');
    await new Promise((r) => setTimeout(r, 500));
  }
  assert.fail('the report stayed busy');
}

/** Downloads the link's file: its suggested name and its bytes. */
async function download(page, selector) {
  const [file] = await Promise.all([page.waitForEvent('download'), page.click(selector)]);
  assert.equal(await file.failure(), null);
  return { name: file.suggestedFilename(), bytes: await readFile(await file.path()) };
}

/** A CSV's lines (CRLF) and cells (our files hold no quoted field). */
function rows(text) {
  const lines = text.split('\r\n');
  assert.equal(lines.pop(), '', 'the last line ends with CRLF');
  return lines.map((l) => l.split(','));
}

/** No cell starts like a formula unless it is a plain integer (a negative amount). */
function assertFormulaSafe(cells, label) {
  for (const row of cells) {
    for (const cell of row) {
      if (/^[=+\-@\t\r]/.test(cell)) assert.match(cell, /^-\d+$/, `${label}: ${cell}`);
    }
  }
}

test('the report by day and month, and its CSV files in UTF-8 and CP949', async () => {
  const { ctx, page } = await signedIn('desktop');
  try {
    await openReport(page);
    assert.equal(await page.getAttribute('nav.tabs a[aria-current=page]', 'href'), '/console/report');
    // The demo sold vouchers and pays all the time.
    const total = (f) => page.getAttribute(`#report-total [data-field="${f}"]`, 'data-value');
    assert.ok(Number(await total('sales')) > 0);
    assert.ok(Number(await total('payments-count')) > 0);
    assert.ok((await page.locator('#report-months tbody tr').count()) >= 1);
    assert.ok((await page.locator('#report-days tbody tr').count()) >= 1);
    assert.match(await page.getAttribute('#report-days tbody tr', 'data-period'), /^\d{4}-\d{2}-\d{2}$/);

    // By day, UTF-8: a BOM for Excel, the header, a row per day.
    const day = await download(page, 'a[data-by=day][data-encoding=utf8]');
    assert.equal(day.name, 'maeul-report-demo-day.csv');
    assert.deepEqual([...day.bytes.subarray(0, 3)], [0xef, 0xbb, 0xbf]);
    const dayRows = rows(new TextDecoder('utf-8').decode(day.bytes.subarray(3)));
    assert.deepEqual(dayRows[0].slice(0, 3), ['기간 period', '발행 issuance', '판매 sales']);
    assert.ok(dayRows.length >= 2);
    for (const row of dayRows.slice(1)) {
      assert.equal(row.length, dayRows[0].length);
      assert.match(row[0], /^\d{4}-\d{2}-\d{2}$/);
      for (const cell of row.slice(1)) assert.match(cell, /^-?\d+$/, 'amounts are plain integers');
    }
    assertFormulaSafe(dayRows, 'by day');

    // By month, CP949 for older Excel: no BOM, the same header in Korean.
    await openReport(page);
    const month = await download(page, 'a[data-by=month][data-encoding=cp949]');
    assert.equal(month.name, 'maeul-report-demo-month-cp949.csv');
    assert.notDeepEqual([...month.bytes.subarray(0, 3)], [0xef, 0xbb, 0xbf]);
    // 기 in CP949.
    assert.deepEqual([...month.bytes.subarray(0, 2)], [0xb1, 0xe2]);
    const monthRows = rows(new TextDecoder('euc-kr').decode(month.bytes));
    assert.deepEqual(monthRows[0], dayRows[0], 'the same header in either encoding');
    assert.match(monthRows[1][0], /^\d{4}-\d{2}$/);
    assertFormulaSafe(monthRows, 'by month');
    // The same file in UTF-8 says the same months.
    await openReport(page);
    const monthUtf8 = await download(page, 'a[data-by=month][data-encoding=utf8]');
    const utf8Rows = rows(new TextDecoder('utf-8').decode(monthUtf8.bytes.subarray(3)));
    assert.deepEqual(
      utf8Rows.map((r) => r[0]),
      monthRows.map((r) => r[0]),
    );
    assert.deepEqual(ctx.errors, []);
  } finally {
    await ctx.close();
  }
});

/** `datetime-local` text for a moment in Korea time (UTC+9, no daylight saving). */
function kstLocal(ms) {
  return new Date(ms + 9 * 3_600_000).toISOString().slice(0, 16);
}

test('a broken scheme shows its problems and keeps the text; a version for tomorrow is pending until withdrawn', async () => {
  const { ctx, page } = await signedIn('desktop');
  try {
    await page.goto('/console/scheme');
    assert.equal(await page.getAttribute('nav.tabs a[aria-current=page]', 'href'), '/console/scheme');
    const inForce = page.locator('#scheme-timeline li[data-state="in_force"]');
    assert.equal(await inForce.count(), 1);
    const inForceVersion = await inForce.getAttribute('data-version');
    const versions = await page.locator('#scheme-timeline li').count();
    // The editor starts from the version in force's file.
    const original = await page.inputValue('#scheme-toml');
    assert.match(original, /^name = /m);
    assert.match(original, /\[purchase\]/);

    // Broken: both validity periods 0. Checking lists both with their lines.
    const broken = original.replaceAll('validity_days = 1826', 'validity_days = 0');
    assert.notEqual(broken, original);
    await page.fill('#scheme-toml', broken);
    await page.click('#scheme-check');
    assert.equal(await page.getAttribute('#scheme-problems', 'data-count'), '2');
    const line = await page.getAttribute('#scheme-problems li[data-field="purchase.validity_days"]', 'data-line');
    assert.equal(broken.split('\n')[Number(line) - 1].trim(), 'validity_days = 0');
    assert.equal(await page.inputValue('#scheme-toml'), broken, 'the text is kept');
    await assertAccessible(page, 'console scheme (problems)');
    // Saving checks first: nothing is saved, the text is kept.
    const [saved] = await Promise.all([
      page.waitForResponse((r) => r.url().endsWith('/console/scheme') && r.request().method() === 'POST'),
      page.click('#scheme-save'),
    ]);
    assert.equal(saved.status(), 400);
    assert.equal(await page.getAttribute('#scheme-problems', 'data-count'), '2');
    assert.equal(await page.inputValue('#scheme-toml'), broken);
    assert.equal(await page.locator('#scheme-timeline li').count(), versions);
    // Not even a file: the problem says where.
    await page.fill('#scheme-toml', `${original}\n[purchase\n`);
    await page.click('#scheme-check');
    assert.equal(await page.getAttribute('#scheme-problems li', 'data-field'), 'file');
    assert.ok(Number(await page.getAttribute('#scheme-problems li', 'data-line')) > 1);

    // The original checks clean, with what it sets.
    await page.fill('#scheme-toml', original);
    await page.click('#scheme-check');
    assert.match(await page.textContent('#scheme-valid'), /cash-back caps/);

    // Saved for tomorrow: pending in the timeline; the version in force stays.
    await page.fill('#effective_at', kstLocal(Date.now() + 24 * 3_600_000));
    await page.click('#scheme-save');
    await page.waitForURL(/\/console\/scheme\?currency=demo&saved=\d+$/);
    const next = new URL(page.url()).searchParams.get('saved');
    const pending = page.locator(`#scheme-timeline li[data-version="${next}"]`);
    assert.equal(await pending.getAttribute('data-state'), 'pending');
    assert.equal(
      await page.getAttribute('#scheme-timeline li[data-state="in_force"]', 'data-version'),
      inForceVersion,
    );
    await assertAccessible(page, 'console scheme (pending)');
    // Withdrawn, after a confirmation.
    await pending.locator('button[type=submit]').click();
    assert.match(await page.textContent('h1'), /철회할까요/);
    await assertAccessible(page, 'console scheme (confirm withdrawal)');
    await page.click('#withdraw-now');
    await page.waitForURL(`**/console/scheme?currency=demo&withdrawn=${next}`);
    assert.equal(await page.getAttribute('#scheme-done', 'data-withdrawn'), next);
    assert.equal(await page.locator(`#scheme-timeline li[data-version="${next}"]`).count(), 0);
    assert.equal(await page.locator('#scheme-timeline li[data-state="pending"]').count(), 0);
    assert.deepEqual(ctx.errors, []);
  } finally {
    await withdrawPending();
    await ctx.close();
  }
});

sweepPages(
  'the money pages',
  () => browser,
  async (page) => {
    await signInWithForm(page, 'operator');
    await page.waitForURL('**/console');
  },
  {
    'console-budgets': { path: '/console/budgets', h1: { ko: /보조금 예산/, en: /Subsidy budgets/ } },
    'console-report': { open: openReport, h1: { ko: /운영 보고서/, en: /Operator report/ } },
    'console-scheme': { path: '/console/scheme', h1: { ko: /제도 설정/, en: /Scheme/ } },
  },
);
