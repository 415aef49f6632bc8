// The till reads a customer's one-time code with the camera, in a browser without a QR
// detector of its own (Chromium on Linux has none): frames go to /shop/scan, the code
// lands in the field, and the cashier takes the payment. The camera is Chromium's fake
// device playing the QR the citizen's /wallet/code page shows.
//
// Logins: citizen-0330 (the customer) and shop-0080 (the till) only.

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
