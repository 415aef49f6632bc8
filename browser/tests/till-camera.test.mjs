// The till reads a customer's one-time code with the camera, in a browser without a QR
// detector of its own (Chromium on Linux has none): frames go to /shop/scan, the code
// lands in the field, and the cashier takes the payment. The camera is Chromium's fake
// device playing the QR the citizen's /wallet/code page shows.
//
// And a payment made on a citizen's page shows on the shop's open till in another
// browser context, as it happens.
//
// Logins: citizen-0330, citizen-0331 (customers) and shop-0080, shop-0081 (tills) only.

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { BASE, SIZES, context, launch, launchWithCamera, signInWithForm } from './helpers.mjs';

const PIN = '123456';

let browser;
before(async () => {
  browser = await launch();
});
after(async () => {
  await browser?.close();
});

/** The citizen's one-time code from their page: its text and its QR as a PNG. */
async function codeFromTheWallet() {
  const ctx = await context(browser, 'desktop');
  try {
    const page = await ctx.newPage();
    await signInWithForm(page, 'citizen-0330');
    await page.waitForURL('**/wallet');
    await page.goto('/wallet/code');
    await page.getByLabel('결제 비밀번호(6자리)').fill(PIN);
    await page.locator('form.code-form button').click();
    await page.locator('#pay-code .qr svg').waitFor();
    const text = (await page.textContent('#code-text')).replace(/\s/g, '');
    const png = await page.locator('#pay-code .qr svg').screenshot({ type: 'png' });
    return { text, png };
  } finally {
    await ctx.close();
  }
}

test('the till’s camera reads a customer’s code through the server and takes the payment', async () => {
  const { text, png } = await codeFromTheWallet();
  assert.match(text, /^MC1:/);
  const camBrowser = await launchWithCamera(png);
  try {
    const ctx = await camBrowser.newContext({ ...SIZES.phone, locale: 'ko-KR', baseURL: BASE });
    await ctx.grantPermissions(['camera'], { origin: BASE });
    const page = await ctx.newPage();
    const frames = [];
    page.on('request', (r) => {
      if (new URL(r.url()).pathname === '/shop/scan') frames.push(r.method());
    });
    await signInWithForm(page, 'shop-0080');
    await page.waitForURL((u) => u.pathname === '/shop');
    const hasDetector = await page.evaluate(() => 'BarcodeDetector' in window);
    const start = page.locator('#scan-start');
    await start.waitFor({ state: 'visible' });
    await start.click();
    await page.waitForFunction((code) => document.getElementById('code').value === code, text, {
      timeout: 20000,
    });
    if (!hasDetector) assert.ok(frames.length >= 1, 'frames were sent to the server');
    assert.ok(await page.locator('#scan-video').isHidden(), 'the camera stops once read');
    assert.match(await page.textContent('#scan-status'), /코드를 읽었습니다/);
    assert.equal(await page.evaluate(() => document.activeElement?.id), 'amount');
    await page.getByLabel('금액', { exact: true }).fill('1,234');
    await page.getByRole('button', { name: '결제 받기' }).click();
    const result = page.locator('#charge-result');
    await result.waitFor();
    assert.match(await result.textContent(), /1,234원/);
    await ctx.close();
  } finally {
    await camBrowser.close();
  }
});

test('a payment made on the citizen’s page shows on the shop’s open till, in another browser', async () => {
  // The shop's till in one context, the citizen's phone in another.
  const till = await context(browser, 'desktop');
  const phone = await context(browser, 'phone');
  try {
    const shopPage = await till.newPage();
    await signInWithForm(shopPage, 'shop-0081');
    await shopPage.waitForURL((u) => u.pathname === '/shop');
    await shopPage.waitForFunction(() => document.getElementById('till-state').textContent.includes('실시간으로 받는 중'));
    const citizen = await phone.newPage();
    await signInWithForm(citizen, 'citizen-0331');
    await citizen.waitForURL('**/wallet');
    // shop-NNNN is merchant 20000 + NNNN - 1.
    await citizen.goto(`/pay/shop/${20000 + 81 - 1}`);
    const amount = 1000 + Math.floor(Math.random() * 900) + 1;
    await citizen.getByLabel('결제 금액(원)').fill(amount.toLocaleString('en-US'));
    await citizen.getByLabel('결제 비밀번호(6자리)').fill(PIN);
    const started = Date.now();
    await citizen.locator('form.pay-form button').click();
    await citizen.waitForURL('**/pay/done?*');
    const payment = (await citizen.textContent('#payment-no')).trim();
    const row = shopPage.locator(`#till-payments tbody tr[data-transfer="${payment}"]`);
    await row.waitFor({ timeout: 5000 });
    console.log(`till: a page payment appeared ${Date.now() - started} ms after the citizen pressed pay`);
    assert.match(await row.textContent(), new RegExp(amount.toLocaleString('en-US')));
    assert.deepEqual(till.errors, []);
    assert.deepEqual(phone.errors, []);
  } finally {
    await till.close();
    await phone.close();
  }
});
