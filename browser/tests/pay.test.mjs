// The citizen's paying pages against the demo: finding a shop by name and by 초성 and
// paying it (the result page and the API's history agree, a double submit pays once, a
// wrong PIN is told in the service's words); scanning the shop's QR from a photo and
// from a camera (Chromium's fake camera playing the sticker the API renders), with the
// service's specific words for a suspended shop; the one-time pay code with its
// countdown; nearby shops (area picker and geolocation) with the SVG map; notices.
// Every page passes axe-core and fits a phone, in large text too.
//
// Logins: citizen-0150 … citizen-0159 only (other files use others).

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { deflateSync } from 'node:zlib';
import {
  BASE,
  SIZES,
  apiSignIn,
  apiWallet,
  assertAccessible,
  assertNoHorizontalOverflow,
  context,
  launch,
  launchWithCamera,
  screenshot,
  signInWithForm,
} from './helpers.mjs';

let browser;
let currency;
before(async () => {
  browser = await launch();
  const status = await (await fetch(new URL('/status.json', BASE))).json();
  currency = status.currencies[0].code;
});
after(async () => {
  await browser?.close();
});

const PIN = '123456';
/** The demo's first approved shop (crates/maeul/src/demo.rs: merchant(0)). */
const SHOP = 20000;

const won = (n) => `${n < 0 ? '−' : ''}${Math.abs(n).toLocaleString('en-US')}원`;

async function api(path, token) {
  const r = await fetch(new URL(path, BASE), {
    headers: token ? { authorization: `Bearer ${token}` } : {},
  });
  assert.equal(r.status, 200, `GET ${path}`);
  return r;
}

/** The initial consonants (초성) of a Korean name. */
function chosung(name) {
  const CHO = 'ㄱㄲㄴㄷㄸㄹㅁㅂㅃㅅㅆㅇㅈㅉㅊㅋㅌㅍㅎ';
  return [...name]
    .map((ch) => {
      const c = ch.codePointAt(0) - 0xac00;
      return c >= 0 && c < 11172 ? CHO[Math.floor(c / 588)] : '';
    })
    .join('');
}

/**
 * A page is usable: no console errors so far (a CSP violation), no serious axe
 * findings, no sideways scroll. What axe itself does to the page (it adds elements to
 * measure contrast) is not the page's: its console noise is dropped.
 */
async function checkPage(page, label) {
  const errors = page.context().errors ?? [];
  assert.deepEqual(errors, [], `console errors on ${label}`);
  await assertAccessible(page, label);
  await assertNoHorizontalOverflow(page, label);
  errors.length = 0;
}

let operatorToken;
async function operator() {
  operatorToken ??= await apiSignIn('operator');
  return operatorToken;
}

/** A merchant's QR (PNG), as an operator prints it. */
async function shopQr(id) {
  const token = await operator();
  const r = await api(`/api/v1/operator/${currency}/merchants/${id}/qr?format=png`, token);
  return Buffer.from(await r.arrayBuffer());
}

test('find a shop by name and by 초성, pay it, and see what the API says', async () => {
  const card = await (await api(`/api/v1/directory/${currency}/merchants/${SHOP}`)).json();
  const ctx = await context(browser, 'phone');
  try {
    const page = await ctx.newPage();
    await signInWithForm(page, 'citizen-0150');
    await page.waitForURL('**/wallet');
    await page.goto('/pay');
    assert.equal((await page.textContent('h1')).trim(), '결제하기');
    await checkPage(page, '/pay');
    await screenshot(page, 'pay', 'phone');
    // By initial consonants: the shop is among the results.
    await page.getByLabel('가게 이름', { exact: true }).fill(chosung(card.name));
    await page.locator('form.search-form button').click();
    await page.waitForURL('**/pay?q=*');
    assert.ok(await page.locator(`#results li[data-merchant="${SHOP}"]`).count(), `초성 ${chosung(card.name)}`);
    // By part of its name.
    await page.getByLabel('가게 이름', { exact: true }).fill(card.name.slice(0, 2));
    await page.locator('form.search-form button').click();
    await page.waitForURL(`**/pay?q=*`);
    const item = page.locator(`#results li[data-merchant="${SHOP}"]`);
    assert.equal(await item.count(), 1);
    await checkPage(page, '/pay?q=');
    await item.getByRole('link').click();
    await page.waitForURL(`**/pay/shop/${SHOP}`);
    assert.match(await page.textContent('section.shop'), new RegExp(card.name));
    await checkPage(page, '/pay/shop');
    await screenshot(page, 'pay-shop', 'phone');

    const token = await apiSignIn('citizen-0150');
    const before = await apiWallet(token);
    await page.getByLabel('결제 금액(원)').fill('1,000');
    await page.getByLabel('결제 비밀번호(6자리)').fill(PIN);
    // Keep the form's fields to submit them again (a double submit).
    const fields = await page.evaluate(() => Object.fromEntries(new FormData(document.querySelector('form.pay-form'))));
    await page.locator('form.pay-form button').click();
    await page.waitForURL('**/pay/done?*');
    assert.equal((await page.textContent('h1')).trim(), '결제했습니다');
    assert.equal(Number(await page.getAttribute('#paid', 'data-amount')), 1000);
    assert.equal((await page.textContent('#paid')).trim(), won(1000));
    assert.equal((await page.textContent('#paid-to')).trim(), card.name);
    const payment = Number((await page.textContent('#payment-no')).trim());
    const cashback = Number(await page.getAttribute('#cashback', 'data-amount'));
    assert.ok(cashback >= 0);
    const shownBalance = Number(await page.getAttribute('#balance-after', 'data-amount'));
    assert.ok(shownBalance <= before.balance - 1000 + cashback, 'the balance went down by the payment');
    await checkPage(page, '/pay/done');
    await screenshot(page, 'pay-done', 'phone');
    // The API's history has the payment.
    const history = await (await api('/api/v1/me/history?limit=50', token)).json();
    const entry = history.find((e) => e.kind === 'payment' && e.transfer === payment);
    assert.ok(entry, `payment ${payment} in the history`);
    assert.equal(entry.amount, -1000);
    // The same form again (a double tap): the same payment, not a second one.
    const again = await ctx.request.post(`/pay/shop/${SHOP}`, { form: fields, maxRedirects: 0 });
    assert.equal(again.status(), 303);
    assert.match(again.headers().location, new RegExp(`payment=${payment}&`));
    const after = await (await api('/api/v1/me/history?limit=50', token)).json();
    assert.equal(after.filter((e) => e.kind === 'payment' && e.transfer === payment).length, 1);
    assert.deepEqual(ctx.errors, []);
  } finally {
    await ctx.close();
  }
});

test('a wrong PIN and a missing amount are told in the service words', async () => {
  const ctx = await context(browser, 'desktop');
  try {
    const page = await ctx.newPage();
    await signInWithForm(page, 'citizen-0151');
    await page.waitForURL('**/wallet');
    await page.goto(`/pay/shop/${SHOP}`);
    await page.getByLabel('결제 금액(원)').fill('1000');
    await page.getByLabel('결제 비밀번호(6자리)').fill('000000');
    await page.locator('form.pay-form button').click();
    const alert = page.locator('#pay-error');
    await alert.waitFor();
    assert.equal(await alert.getAttribute('role'), 'alert');
    const code = await alert.getAttribute('data-code');
    assert.ok(code && code !== 'internal', code);
    assert.ok(!(await page.content()).includes('000000'), 'the PIN is not echoed');
    assert.equal(await page.inputValue('#amount'), '1000', 'the amount is kept');
    await checkPage(page, '/pay/shop (refused)');
    // The right PIN then pays (a fresh key came with the form).
    await page.getByLabel('결제 비밀번호(6자리)').fill(PIN);
    await page.locator('form.pay-form button').click();
    await page.waitForURL('**/pay/done?*');
    await screenshot(page, 'pay-done', 'desktop');
    await page.goto('/pay');
    await screenshot(page, 'pay', 'desktop');
    await page.goto(`/pay/shop/${SHOP}`);
    await screenshot(page, 'pay-shop', 'desktop');
  } finally {
    await ctx.close();
  }
});

test('a photo of the sticker finds the shop; a suspended shop is told so', async () => {
  const png = await shopQr(SHOP);
  const ctx = await context(browser, 'phone', { text: 'large' });
  try {
    const page = await ctx.newPage();
    await signInWithForm(page, 'citizen-0152');
    await page.waitForURL('**/wallet');
    await page.goto('/pay');
    await page.setInputFiles('#photo', { name: 'qr.png', mimeType: 'image/png', buffer: png });
    await page.locator('#photo-form button').click();
    const result = page.locator('.scan-result');
    await result.waitFor();
    assert.equal(await result.getAttribute('data-payable'), 'true', await result.textContent());
    assert.equal(await result.getAttribute('data-code'), 'merchant_found');
    await checkPage(page, '/pay/scan (large text)');
    await screenshot(page, 'pay-scan', 'phone');
    await result.getByRole('link').click();
    await page.waitForURL(`**/pay/shop/${SHOP}`);

    // A shop an operator suspended: the service's own words, not "invalid QR".
    const op = await operator();
    const list = await (await api(`/api/v1/operator/${currency}/merchants?status=suspended&limit=1`, op)).json();
    if (list.merchants.length) {
      const other = await shopQr(list.merchants[0].id);
      await page.goto('/pay');
      await page.setInputFiles('#photo', { name: 'qr.png', mimeType: 'image/png', buffer: other });
      await page.locator('#photo-form button').click();
      await result.waitFor();
      assert.equal(await result.getAttribute('data-payable'), 'false');
      assert.equal(await result.getAttribute('data-code'), 'merchant_suspended');
      const words = await page.locator('.scan-result [role=alert]').textContent();
      assert.ok(!/invalid/i.test(words) && words.trim().length > 10, words);
    }
    // Not an image at all: the decoder's words.
    await page.goto('/pay');
    await page.setInputFiles('#photo', { name: 'x.png', mimeType: 'image/png', buffer: Buffer.from('not an image') });
    await page.locator('#photo-form button').click();
    await result.waitFor();
    assert.match(await result.getAttribute('data-code'), /^image_/);
  } finally {
    await ctx.close();
  }
});

test('the camera reads the sticker (Chromium fake camera) and shows the shop', async () => {
  const camBrowser = await launchWithCamera(await shopQr(SHOP));
  try {
    const ctx = await camBrowser.newContext({ ...SIZES.phone, locale: 'ko-KR', baseURL: BASE });
    await ctx.grantPermissions(['camera'], { origin: BASE });
    const page = await ctx.newPage();
    await signInWithForm(page, 'citizen-0153');
    await page.waitForURL('**/wallet');
    await page.goto('/pay');
    const toggle = page.locator('#camera-toggle');
    await toggle.waitFor({ state: 'visible' });
    await toggle.click();
    const result = page.locator('#scan-answer .scan-result');
    await result.waitFor({ timeout: 20000 });
    assert.equal(await result.getAttribute('data-code'), 'merchant_found', await result.textContent());
    assert.equal(await page.locator(`#scan-answer a[href="/pay/shop/${SHOP}"]`).count(), 1);
    assert.equal(await toggle.getAttribute('aria-pressed'), 'false', 'the camera stops once read');
    await ctx.close();
  } finally {
    await camBrowser.close();
  }
});

test('the one-time pay code: QR and text, a countdown, a new code', async () => {
  for (const size of ['phone', 'desktop']) {
    const ctx = await context(browser, size);
    try {
      const page = await ctx.newPage();
      await signInWithForm(page, size === 'phone' ? 'citizen-0154' : 'citizen-0155');
      await page.waitForURL('**/wallet');
      await page.goto('/wallet/code');
      await page.getByLabel('결제 비밀번호(6자리)').fill(PIN);
      await page.locator('form.code-form button').click();
      const code = page.locator('#pay-code');
      await code.waitFor();
      assert.equal(await page.locator('#pay-code .qr svg').count(), 1);
      const text = (await page.textContent('#code-text')).replace(/\s/g, '');
      assert.match(text, /^MC1:[0-9A-Z]{52}$/);
      const left = Number(await page.getAttribute('#code-left', 'data-left-s'));
      assert.ok(left > 150 && left <= 180, `${left} s left`);
      assert.match(await page.textContent('#code-left'), /분|초/);
      assert.equal(await page.getAttribute('#code-announce', 'aria-live'), 'polite');
      await checkPage(page, `/wallet/code (${size})`);
      await screenshot(page, 'wallet-code', size);
      // A new code replaces it (the PIN asked again).
      await page.getByLabel('결제 비밀번호(6자리)').fill(PIN);
      await Promise.all([page.waitForEvent('load'), page.locator('form.code-form button').click()]);
      await page.locator('#pay-code').waitFor();
      const renewed = (await page.textContent('#code-text')).replace(/\s/g, '');
      assert.notEqual(renewed, text, 'a new code');
      assert.deepEqual(ctx.errors, []);
    } finally {
      await ctx.close();
    }
  }
});

/** A 256×256 one-colour PNG, as a tile server answers. */
function tilePng() {
  const crcTable = Array.from({ length: 256 }, (_, n) => {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    return c >>> 0;
  });
  const crc = (buf) => {
    let c = 0xffffffff;
    for (const b of buf) c = crcTable[(c ^ b) & 0xff] ^ (c >>> 8);
    return (c ^ 0xffffffff) >>> 0;
  };
  const chunk = (type, data) => {
    const body = Buffer.concat([Buffer.from(type, 'ascii'), data]);
    const out = Buffer.alloc(8 + data.length + 4);
    out.writeUInt32BE(data.length, 0);
    body.copy(out, 4);
    out.writeUInt32BE(crc(body), 8 + data.length);
    return out;
  };
  const header = Buffer.alloc(13);
  header.writeUInt32BE(256, 0);
  header.writeUInt32BE(256, 4);
  header[8] = 8; // bit depth
  header[9] = 2; // RGB
  const row = Buffer.concat([Buffer.from([0]), Buffer.alloc(256 * 3, 0xd8)]);
  const pixels = deflateSync(Buffer.concat(Array.from({ length: 256 }, () => row)));
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', header),
    chunk('IDAT', pixels),
    chunk('IEND', Buffer.alloc(0)),
  ]);
}

test('nearby: the configured tile server’s tiles lie under the map; without it the plain map stays', async () => {
  // crates/maeul/tests/browser.rs starts maeul with --map-tiles on this port.
  const port = Number(process.env.MAEUL_TILES_PORT);
  assert.ok(port > 0, 'MAEUL_TILES_PORT is set by the browser test');
  const asked = [];
  const png = tilePng();
  const tiles = createServer((req, res) => {
    asked.push(req.url);
    res.writeHead(200, { 'content-type': 'image/png' });
    res.end(png);
  });
  await new Promise((ok) => tiles.listen(port, '127.0.0.1', ok));
  const ctx = await context(browser, 'phone');
  try {
    const page = await ctx.newPage();
    await signInWithForm(page, 'citizen-0155');
    await page.waitForURL('**/wallet');
    await page.goto('/nearby');
    const images = page.locator('svg.map g.map-tiles image');
    const drawn = await images.count();
    assert.ok(drawn >= 4 && drawn <= 25, `${drawn} tiles drawn`);
    // Every tile is asked for once the images are decoded (the policy lets them in).
    await page.waitForFunction(
      (n) => performance.getEntriesByType('resource').filter((e) => e.initiatorType === 'image').length >= n,
      drawn,
    );
    assert.ok(asked.length >= drawn, `the tile server was asked ${asked.length} times`);
    for (const path of asked) assert.match(path, /^\/tiles\/\d+\/\d+\/\d+\.png$/);
    assert.equal((await page.textContent('.map-attribution')).trim(), 'test tiles');
    assert.ok((await page.locator('svg.map g.map-shop').count()) > 0, 'points over the tiles');
    await checkPage(page, '/nearby with tiles');
    assert.deepEqual(ctx.errors, []);
  } finally {
    await ctx.close();
    await new Promise((ok) => tiles.close(ok));
  }
  // The tile server gone: the points, rings and list are all still there.
  const gone = await context(browser, 'phone');
  try {
    const page = await gone.newPage();
    await signInWithForm(page, 'citizen-0155');
    await page.waitForURL('**/wallet');
    await page.goto('/nearby');
    assert.ok((await page.locator('svg.map g.map-shop').count()) > 0, 'points without tiles');
    assert.ok((await page.locator('ol.nearby-list > li').count()) > 0, 'the list without tiles');
    assert.ok(gone.errors.every((e) => e.includes('Failed to load resource')), gone.errors.join('\n'));
  } finally {
    await gone.close();
  }
});

test('nearby shops: the town centre, another area, my location; list and map', async () => {
  for (const size of ['phone', 'desktop']) {
    const ctx = await browser.newContext({
      ...SIZES[size],
      locale: 'ko-KR',
      baseURL: BASE,
      geolocation: { latitude: 35.1631, longitude: 129.1635 },
      permissions: ['geolocation'],
    });
    try {
      const page = await ctx.newPage();
      await signInWithForm(page, size === 'phone' ? 'citizen-0156' : 'citizen-0157');
      await page.waitForURL('**/wallet');
      await page.goto('/nearby');
      assert.equal((await page.textContent('h1')).trim(), '주변 가맹점');
      const items = page.locator('ol.nearby-list > li');
      assert.ok((await items.count()) > 0, 'shops around the town centre');
      assert.ok((await page.locator('svg.map g.map-shop').count()) > 0, 'points on the map');
      const d = await items.evaluateAll((li) => li.map((l) => Number(l.dataset.distanceM)));
      assert.deepEqual(d, [...d].sort((a, b) => a - b), 'nearest first');
      await checkPage(page, `/nearby (${size})`);
      await screenshot(page, 'nearby', size);
      // Another area from the picker.
      const areas = await page.locator('#area option').evaluateAll((o) => o.map((x) => x.value));
      if (areas.length > 1) {
        await page.selectOption('#area', areas[1]);
        await page.locator('form.area-form button').click();
        await page.waitForURL('**/nearby?area=*');
        assert.match(await page.textContent('#around'), new RegExp(areas[1]));
      }
      // My location (the browser's).
      await page.locator('#locate-button').click();
      await page.waitForURL('**/nearby?lat=35.16310&lon=129.16350');
      assert.equal((await page.textContent('#around')).trim(), '내 위치 주변');
      await checkPage(page, `/nearby?lat (${size})`);
    } finally {
      await ctx.close();
    }
  }
});

test('notices: the currency notices, as the API lists them', async () => {
  const list = await (await api(`/api/v1/notices/${currency}`)).json();
  for (const size of ['phone', 'desktop']) {
    const ctx = await context(browser, size);
    try {
      const page = await ctx.newPage();
      await signInWithForm(page, size === 'phone' ? 'citizen-0158' : 'citizen-0159');
      await page.waitForURL('**/wallet');
      await page.goto('/notices');
      assert.equal((await page.textContent('h1')).trim(), '공지');
      assert.equal(await page.locator('ol.notice-list > li').count(), list.length);
      if (list.length) assert.match(await page.textContent('ol.notice-list'), new RegExp(list[0].title_ko.slice(0, 10).replace(/[.*+?^${}()|[\]\\]/g, '\\$&')));
      await checkPage(page, `/notices (${size})`);
      await screenshot(page, 'notices', size);
    } finally {
      await ctx.close();
    }
  }
});
