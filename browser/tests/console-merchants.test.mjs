// The operator's console for merchants, against the demo, signed in as `operator`:
// a registry file (UTF-8, one row refused) is previewed before anything changes, then
// applied, and its new application is approved on the merchants page; an approved shop
// goes through suspend, approve, close and reopen and ends as it started; a CP949 file
// is read; old QR codes are imported with their row report; forms without their token
// are refused; every page passes axe-core at phone and desktop size and fits a phone in
// large text. Every answer is checked against the API.
//
// Only demo merchants with index ≥ 1000 (ids ≥ 21000) and merchants this file adds are
// touched, and each ends approved or closed as it started or was added: the busy shops
// other tests pay are never moved.

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  apiSignIn,
  assertAccessible,
  assertNoHorizontalOverflow,
  context,
  launch,
  screenshot,
  signInWithForm,
  sweepPages,
} from './helpers.mjs';

const CURRENCY = 'demo';
/** Demo merchant `i` is account 20000 + i; these tests move only i ≥ 1000. */
const FIRST_OURS = 21_000;

let browser;
let token;
before(async () => {
  browser = await launch();
  token = await apiSignIn('operator');
});
after(async () => {
  await browser?.close();
});

/** An operator API call: the parsed JSON (or text) answer. */
async function api(path, { method = 'GET', body, type, key } = {}) {
  const headers = { authorization: `Bearer ${token}` };
  if (type) headers['content-type'] = type;
  if (key) headers['idempotency-key'] = key;
  const r = await fetch(new URL(`/api/v1/operator/${CURRENCY}${path}`, process.env.MAEUL_URL), {
    method,
    headers,
    body,
  });
  const text = await r.text();
  assert.ok(r.ok, `${method} ${path}: ${r.status} ${text}`);
  return text && r.headers.get('content-type')?.includes('json') ? JSON.parse(text) : text;
}

/** The merchant `id` as the API lists it (searched by its id). */
async function apiMerchant(id) {
  const list = await api(`/merchants?q=${id}&limit=200`);
  return list.merchants.find((m) => m.id === id);
}

/** A valid 사업자등록번호 (ten digits, the last the check digit), at random. */
function randomBrn() {
  const d = Array.from({ length: 9 }, () => Math.floor(Math.random() * 10));
  d[0] = 1 + (d[0] % 9);
  const w = [1, 3, 7, 1, 3, 7, 1, 3, 5];
  let sum = d.reduce((s, x, i) => s + x * w[i], 0) + Math.floor((d[8] * 5) / 10);
  d.push((10 - (sum % 10)) % 10);
  return d.join('');
}

/** The same number with its check digit wrong. */
const badBrn = (brn) => brn.slice(0, 9) + ((Number(brn[9]) + 1) % 10);

/** Waits for the merchant page after move `done`. */
const doneUrl = (id, done) => (u) =>
  u.pathname === `/console/merchants/${id}` && u.searchParams.get('done') === done && u.searchParams.has('sig');

const unique = () => `${Date.now().toString(36)}${Math.floor(Math.random() * 1e6).toString(36)}`;

async function signedIn(size, options) {
  const ctx = await context(browser, size, options);
  const page = await ctx.newPage();
  await signInWithForm(page, 'operator');
  await page.waitForURL('**/console**');
  return { ctx, page };
}

async function uploadRegistry(page, name, buffer, { applied = false } = {}) {
  await page.goto('/console/registry');
  await page.setInputFiles('#registry-file', { name, mimeType: 'text/csv', buffer });
  if (applied) await page.check('#new-applied');
  await page.getByRole('button', { name: '바뀌는 점 미리 보기' }).click();
  await page.waitForSelector('#preview-title');
}

const count = (page, name) =>
  page.evaluate((n) => Number(document.querySelector(`[data-count="${n}"] dd`)?.textContent), name);

test('a registry file is previewed, applied, and its application approved on the merchants page', async () => {
  const { ctx, page } = await signedIn('desktop');
  try {
    const brn = randomBrn();
    const name = `시험상회 ${unique()}`;
    const csv = [
      '사업자등록번호,상호명,도로명주소,영업상태',
      `${brn},${name},부산광역시 중구 중앙대로 1,영업`,
      `${badBrn(randomBrn())},틀린번호상회,부산광역시 중구 중앙대로 2,영업`,
      '',
    ].join('\r\n');
    await uploadRegistry(page, '등록부.csv', Buffer.from(csv, 'utf8'), { applied: true });
    assert.equal(await count(page, 'rows'), 2);
    assert.equal(await count(page, 'added'), 1);
    assert.equal(await count(page, 'rejected'), 1);
    // The refused row: its line, its field and the reason in Korean.
    const refused = page.locator('#refused tbody tr');
    assert.equal(await refused.count(), 1);
    assert.equal(await refused.getAttribute('data-line'), '3');
    assert.equal(await refused.locator('[data-field]').getAttribute('data-field'), 'brn');
    assert.match(await refused.textContent(), /사업자등록번호/);
    assert.equal(await page.locator('#changes tbody tr[data-outcome="added"]').count(), 1);
    // Nothing has changed yet.
    let list = await api(`/merchants?q=${encodeURIComponent(name)}`);
    assert.equal(list.total, 0, 'a preview adds nobody');
    await assertAccessible(page, 'the registry preview');
    await screenshot(page, 'console-registry-preview', 'desktop');

    // Apply: the full row report, and the new merchant awaiting approval.
    await page.getByRole('button', { name: '이 파일 적용하기' }).click();
    await page.waitForSelector('#applied-title');
    const added = page.locator('#full tbody tr[data-outcome="added"]');
    assert.equal(await added.count(), 1);
    const id = Number(await added.locator('a').textContent());
    assert.ok(id > 0);
    assert.equal(await page.locator('#full tbody tr[data-outcome="rejected"]').count(), 1);
    list = await api(`/merchants?q=${encodeURIComponent(name)}`);
    assert.equal(list.total, 1);
    assert.equal(list.merchants[0].id, id);
    assert.equal(list.merchants[0].status, 'applied');
    // Reloading the answer (the same form, the same key) applies nothing twice.
    const again = await page.reload();
    assert.equal(again.status(), 200);
    assert.equal((await api(`/merchants?q=${encodeURIComponent(name)}`)).total, 1);

    // The merchants page lists applications first; find it by name and approve it.
    await page.goto('/console/merchants');
    assert.equal(await page.inputValue('#status'), 'applied');
    await page.fill('#q', name);
    await page.getByRole('button', { name: '찾기', exact: true }).click();
    await page.waitForURL(/q=/);
    const row = page.locator(`tr[data-merchant="${id}"]`);
    assert.equal(await row.getAttribute('data-status'), 'applied');
    await row.getByRole('link', { name }).click();
    await page.waitForURL((u) => u.pathname === `/console/merchants/${id}`);
    await page.locator('form[data-move="approve"] button').click();
    await page.waitForURL(doneUrl(id, 'approve'));
    assert.equal(await page.getAttribute('#merchant-status', 'data-status'), 'approved');
    assert.match(await page.textContent('#done'), /승인했습니다/);
    assert.equal((await apiMerchant(id)).status, 'approved');
    // A link that says something else was done is not believed: no banner.
    const signed = new URL(page.url());
    await page.goto(`/console/merchants/${id}?done=close`);
    assert.equal(await page.locator('#done').count(), 0, 'an unsigned banner');
    signed.searchParams.set('done', 'close');
    await page.goto(signed.pathname + signed.search);
    assert.equal(await page.locator('#done').count(), 0, 'a changed banner');

    // Closed again, so the shop this test made is listed nowhere afterwards.
    await page.fill('#reason-close', '브라우저 시험을 마침');
    await page.locator('form[data-move="close"] button').click();
    await page.waitForURL(doneUrl(id, 'close'));
    assert.equal((await apiMerchant(id)).status, 'closed');
    assert.equal(await page.textContent('#last-reason'), '브라우저 시험을 마침');
    assert.deepEqual(ctx.errors, []);
  } finally {
    await ctx.close();
  }
});

test('an approved shop is suspended, approved, closed and reopened, and ends approved', async () => {
  const { ctx, page } = await signedIn('phone', { lang: 'en' });
  try {
    const list = await api('/merchants?status=approved&offset=1400&limit=200');
    const shop = list.merchants.find((m) => m.id >= FIRST_OURS + 500);
    assert.ok(shop, 'an approved demo shop with index ≥ 1500');
    const id = shop.id;
    await page.goto(`/console/merchants/${id}`);
    assert.equal((await page.textContent('h1')).trim(), shop.name);
    const move = async (name, reason, expected) => {
      if (reason) await page.fill(`#reason-${name}`, reason);
      await page.locator(`form[data-move="${name}"] button`).click();
      await page.waitForURL(doneUrl(id, name));
      assert.equal(await page.getAttribute('#merchant-status', 'data-status'), expected, name);
      assert.equal((await apiMerchant(id)).status, expected, `${name} through the API`);
    };
    // A reason is required: the service's own refusal, in English, with its code.
    const csrf = await page.getAttribute('form[data-move="suspend"] input[name=csrf]', 'value');
    const refused = await ctx.request.post(`/console/merchants/${id}/suspend`, {
      form: { csrf, key: unique(), reason: '' },
      maxRedirects: 0,
    });
    assert.ok(refused.status() >= 400 && refused.status() < 500, `${refused.status()}`);
    assert.match(await refused.text(), /role="alert" data-code="[a-z_]+"/);
    assert.equal((await apiMerchant(id)).status, 'approved', 'a refused move changes nothing');

    await move('suspend', 'browser test: hold', 'suspended');
    await move('approve', null, 'approved');
    await move('close', 'browser test: closed', 'closed');
    await move('reopen', 'browser test: reopened', 'approved');
    // Only what the status allows is offered: an approved shop is not approved again.
    assert.equal(await page.locator('form[data-move="approve"]').count(), 0);
    assert.equal(await page.locator('form[data-move="reopen"]').count(), 0);
    await assertAccessible(page, 'a merchant (English, phone)');
    await assertNoHorizontalOverflow(page, 'a merchant (English, phone)');
    assert.deepEqual(ctx.errors, []);
  } finally {
    await ctx.close();
  }
});

test('a CP949 registry file is read, and a preview changes nothing', async () => {
  const { ctx, page } = await signedIn('desktop');
  try {
    const brn = randomBrn();
    // "사업자등록번호,상호명,영업상태\n{brn},씨피상회,영업\n" in CP949.
    const header = Buffer.from('bbe7bef7c0dab5eeb7cfb9f8c8a32cbbf3c8a3b8ed2cbfb5bef7bbf3c5c20a', 'hex');
    const file = Buffer.concat([
      header,
      Buffer.from(`${brn},`),
      Buffer.from('bebec7c7bbf3c8b8', 'hex'),
      Buffer.from(','),
      Buffer.from('bfb5bef7', 'hex'),
      Buffer.from('\n'),
    ]);
    await uploadRegistry(page, 'cp949.csv', file);
    assert.match(await page.textContent('[data-count="encoding"] dd'), /CP949/);
    assert.equal(await count(page, 'added'), 1);
    assert.equal(await count(page, 'rejected'), 0);
    assert.ok((await page.textContent('#changes')).replace(/-/g, '').includes(brn));
    assert.equal((await api(`/merchants?q=${brn}`)).total, 0, 'a preview adds nobody');
  } finally {
    await ctx.close();
  }
});

test('old QR codes are imported, with the row report, and a repeat adds nothing', async () => {
  const { ctx, page } = await signedIn('desktop');
  try {
    const payload = `OLD-OPERATOR-${unique()}`;
    const csv = `payload,merchant_id,note\n${payload},${FIRST_OURS + 7},browser test\n,${FIRST_OURS + 8},\n`;
    await page.goto('/console/aliases');
    await page.setInputFiles('#alias-file', { name: 'qr.csv', mimeType: 'text/csv', buffer: Buffer.from(csv) });
    await page.getByRole('button', { name: 'QR 코드 가져오기' }).click();
    await page.waitForSelector('#imported-title');
    assert.equal(await count(page, 'added'), 1);
    assert.equal(await count(page, 'rejected'), 1);
    const bad = page.locator('#alias-refused tbody tr');
    assert.equal(await bad.getAttribute('data-line'), '3');
    assert.equal(await bad.getAttribute('data-code'), 'empty_payload');
    assert.match(await bad.textContent(), /비어 있습니다/);
    // The API, sent the same file, finds the code already there.
    const again = await api('/qr-aliases', { method: 'POST', body: csv, type: 'text/csv', key: unique() });
    assert.equal(again.added, 0);
    assert.equal(again.identical_duplicates, 1);
    await assertAccessible(page, 'the alias report');
  } finally {
    await ctx.close();
  }
});

test('console forms without their token, or from another site, are refused', async () => {
  const { ctx, page } = await signedIn('desktop');
  try {
    const id = FIRST_OURS + 11;
    const before = await apiMerchant(id);
    let r = await ctx.request.post(`/console/merchants/${id}/close`, {
      form: { reason: 'forged', key: unique() },
      maxRedirects: 0,
    });
    assert.equal(r.status(), 403);
    await page.goto(`/console/merchants/${id}`);
    const csrf = await page.getAttribute('form[data-move] input[name=csrf]', 'value');
    r = await ctx.request.post(`/console/merchants/${id}/close`, {
      form: { csrf, reason: 'forged', key: unique() },
      headers: { origin: 'http://evil.example' },
      maxRedirects: 0,
    });
    assert.equal(r.status(), 403);
    assert.equal((await apiMerchant(id)).status, before.status);
  } finally {
    await ctx.close();
  }
});

/** Every console page marks where it is in the menu. */
const inTheMenu = async (page) => {
  assert.equal(await page.locator('.tabs a[aria-current="page"]').count(), 1);
};

sweepPages(
  "the console's merchant pages",
  () => browser,
  async (page) => {
    await signInWithForm(page, 'operator');
    await page.waitForURL('**/console**');
  },
  {
    'console-merchants': {
      path: '/console/merchants?status=',
      h1: { ko: '가맹점 신청·관리', en: 'Merchants' },
      ready: inTheMenu,
    },
    'console-merchant': { path: `/console/merchants/${FIRST_OURS + 3}`, ready: inTheMenu },
    'console-registry': {
      path: '/console/registry',
      h1: { ko: '등록부 동기화', en: 'Registry sync' },
      ready: inTheMenu,
    },
    'console-aliases': {
      path: '/console/aliases',
      h1: { ko: '기존 QR 등록', en: 'Old QR codes' },
      ready: inTheMenu,
    },
  },
);
