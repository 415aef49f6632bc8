// The merchant's QR sticker page against the demo: the code drawn inline, the PNG and
// SVG downloads (the same bytes as the API's `GET /api/v1/me/qr`), the printable A6
// page, axe-core at phone and desktop size and no overflow in large text.
//
// Logins: shop-0050 … shop-0060 (the demo's approved shops) only.

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  BASE,
  apiSignIn,
  assertAccessible,
  assertNoHorizontalOverflow,
  context,
  launch,
  screenshot,
  signInWithForm,
} from './helpers.mjs';

let browser;
before(async () => {
  browser = await launch();
});
after(async () => {
  await browser?.close();
});

const shopLogin = (n) => `shop-${String(n).padStart(4, '0')}`;

async function signInShop(page, n) {
  await signInWithForm(page, shopLogin(n));
  await page.waitForURL((u) => u.pathname.startsWith('/shop'));
}

/** The API's QR image for `login` in `format`. */
async function apiQr(login, format) {
  const token = await apiSignIn(login);
  const r = await fetch(new URL(`/api/v1/me/qr?format=${format}`, BASE), {
    headers: { authorization: `Bearer ${token}` },
  });
  assert.equal(r.status, 200);
  return { type: r.headers.get('content-type'), bytes: Buffer.from(await r.arrayBuffer()) };
}

test('the QR page draws the sticker code and offers PNG, SVG and print', async () => {
  for (const size of ['phone', 'desktop']) {
    const ctx = await context(browser, size);
    const page = await ctx.newPage();
    await signInShop(page, 50);
    await page.goto('/shop/qr');
    await page.getByRole('link', { name: 'QR 스티커' }).waitFor();
    assert.equal(await page.locator('nav.tabs [aria-current=page]').textContent(), 'QR 스티커');
    await page.getByRole('heading', { level: 1, name: '가게 QR 스티커' }).waitFor();
    const code = page.getByRole('img', { name: '가게 결제 QR 코드' });
    await code.waitFor();
    assert.equal(await page.locator('#qr-code svg').count(), 1);
    // The inline drawing is the API's SVG.
    const api = await apiQr(shopLogin(50), 'svg');
    assert.equal(await page.locator('#qr-code svg path').getAttribute('d'),
      /<path fill="#000" d="([^"]*)"/.exec(api.bytes.toString())[1]);
    await assertAccessible(page, `shop qr ${size}`);
    await assertNoHorizontalOverflow(page, `shop qr ${size}`);
    await screenshot(page, 'shop-qr', size);
    assert.deepEqual(ctx.errors, []);
    await ctx.close();
  }
});

test('the downloads are the API\'s images, saved under a name', async () => {
  const ctx = await context(browser, 'desktop');
  const page = await ctx.newPage();
  await signInShop(page, 51);
  await page.goto('/shop/qr');
  for (const [id, format, type, name] of [
    ['#qr-png', 'png', 'image/png', 'maeul-qr.png'],
    ['#qr-svg', 'svg', 'image/svg+xml', 'maeul-qr.svg'],
    ['#sticker-svg', 'sticker.svg', 'image/svg+xml', 'maeul-qr-sticker-a6.svg'],
  ]) {
    const href = await page.locator(id).getAttribute('href');
    const r = await page.request.get(href);
    assert.equal(r.status(), 200, href);
    assert.equal(r.headers()['content-type'], type);
    assert.match(r.headers()['content-disposition'], new RegExp(name.replace(/\./g, '\\.')));
    const api = await apiQr(shopLogin(51), format);
    assert.ok(Buffer.from(await r.body()).equals(api.bytes), `${format} differs from the API's`);
    // The browser saves it when the link is clicked.
    const [download] = await Promise.all([page.waitForEvent('download'), page.locator(id).click()]);
    assert.equal(download.suggestedFilename(), name);
  }
  const png = await page.request.get('/shop/qr/download?format=sticker.png');
  assert.equal(png.status(), 200);
  assert.equal(png.headers()['content-type'], 'image/png');
  assert.equal((await page.request.get('/shop/qr/download?format=text')).status(), 404);
  await ctx.close();
});

test('the print page shows the A6 sticker, and in print only the sticker', async () => {
  for (const size of ['phone', 'desktop']) {
    const ctx = await context(browser, size, { text: 'large' });
    const page = await ctx.newPage();
    await signInShop(page, 52);
    await page.goto('/shop/qr');
    await page.locator('#qr-print').click();
    await page.waitForURL('**/shop/qr/print');
    await page.getByRole('img', { name: /A6 스티커/ }).waitFor();
    assert.equal(await page.locator('#qr-sticker svg').first().getAttribute('height'), '148mm');
    await assertAccessible(page, `shop qr print ${size}`);
    await assertNoHorizontalOverflow(page, `shop qr print ${size}`);
    await screenshot(page, 'shop-qr-print', size);
    await page.emulateMedia({ media: 'print' });
    assert.equal(await page.locator('.site-header').isVisible(), false);
    assert.equal(await page.locator('#print-hint').isVisible(), false);
    assert.equal(await page.locator('#qr-sticker').isVisible(), true);
    assert.deepEqual(ctx.errors, []);
    await ctx.close();
  }
});

test('the QR page is a merchant\'s: signed out goes to sign-in', async () => {
  const ctx = await context(browser, 'phone');
  const page = await ctx.newPage();
  await page.goto('/shop/qr');
  await page.waitForURL('**/sign-in');
  await ctx.close();
});
