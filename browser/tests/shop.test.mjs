// The merchant's pages against the demo: applying to join (under review, then signing
// in), the live till (a citizen's payment shows within seconds, said in a live region;
// the mute switch is remembered), charging a customer's one-time code from the till
// (a double submit pays once), the sales chart with its table, and every page passing
// axe-core at phone and desktop size and fitting a phone in large text.
//
// Logins: shop-0001 … shop-0020 (the demo's approved shops; shop-NNNN is merchant
// 20000 + NNNN - 1) and citizens citizen-0200 … citizen-0249 as payers.

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

const PIN = '123456';

/** The demo account of `shop-NNNN`. */
const shopAccount = (n) => 20000 + n - 1;

let browser;
before(async () => {
  browser = await launch();
});
after(async () => {
  await browser?.close();
});

/** `12,345원`, as the pages write won in Korean. */
const won = (n) => `${n < 0 ? '−' : ''}${Math.abs(n).toLocaleString('en-US')}원`;

/** An amount the demo's own traffic never pays (it pays whole hundreds). */
const oddAmount = () => 1001 + Math.floor(Math.random() * 98) * 100 + Math.floor(Math.random() * 98);

/** A valid 사업자등록번호 (check digit as the directory computes it), random. */
function brn() {
  const w = [1, 3, 7, 1, 3, 7, 1, 3, 5];
  const d = Array.from({ length: 9 }, (_, i) => (i === 0 ? 1 + Math.floor(Math.random() * 9) : Math.floor(Math.random() * 10)));
  let sum = d.reduce((s, x, i) => s + x * w[i], 0);
  sum += Math.floor((d[8] * 5) / 10);
  const check = (10 - (sum % 10)) % 10;
  const s = d.join('') + check;
  return `${s.slice(0, 3)}-${s.slice(3, 5)}-${s.slice(5)}`;
}

async function api(method, path, token, body, key) {
  const headers = { authorization: `Bearer ${token}` };
  if (body) headers['content-type'] = 'application/json';
  if (key) headers['idempotency-key'] = key;
  const r = await fetch(new URL(path, BASE), { method, headers, body: body && JSON.stringify(body) });
  const text = await r.text();
  return { status: r.status, body: text ? JSON.parse(text) : null };
}

/** A citizen pays a demo shop through the API (as the citizen's app would). */
async function citizenPays(citizen, shop, amount) {
  const token = await apiSignIn(citizen);
  const r = await api('POST', '/api/v1/me/payments', token, { merchant: shopAccount(shop), amount, pin: PIN }, `shop-test-${Date.now()}-${Math.random()}`);
  assert.equal(r.status, 200, JSON.stringify(r.body));
  return r.body;
}

/** A citizen's one-time code for the till, through the API. */
async function consumerCode(citizen) {
  const token = await apiSignIn(citizen);
  const r = await api('POST', '/api/v1/me/consumer-code', token, { pin: PIN });
  assert.equal(r.status, 200, JSON.stringify(r.body));
  return { code: r.body.code, token };
}

async function signInShop(page, n) {
  await signInWithForm(page, `shop-${String(n).padStart(4, '0')}`);
  await page.waitForURL((u) => u.pathname === '/shop');
}

test('a shop applies with its business number, is under review, and can sign in', async () => {
  const ctx = await context(browser, 'phone');
  try {
    const page = await ctx.newPage();
    await page.goto('/shop/apply');
    assert.equal((await page.textContent('h1')).trim(), '가맹점 신청');
    // A wrong check digit is the directory's refusal, with what was typed kept.
    const good = brn();
    const bad = good.slice(0, -1) + String((Number(good.slice(-1)) + 1) % 10);
    const login = `apply-${Date.now().toString(36)}`;
    await page.getByLabel('사업자등록번호').fill(bad);
    await page.getByLabel('상호').fill('해운대 시험상회');
    await page.getByLabel('도로명주소').fill('부산광역시 해운대구 해운대로 1');
    await page.getByLabel('업종').selectOption('5812');
    await page.getByLabel('영업시간').fill('월-금 09:00-18:00');
    await page.getByLabel('연 매출 (원)').fill('120,000,000');
    await page.getByLabel('아이디').fill(login);
    await page.getByLabel('비밀번호').fill('shop-test-password');
    await page.getByRole('button', { name: '신청하기' }).click();
    const alert = page.getByRole('alert');
    await alert.waitFor();
    assert.ok((await alert.getAttribute('data-code')).length > 0);
    assert.equal(await page.inputValue('#name'), '해운대 시험상회');
    assert.equal(await page.inputValue('#password'), '', 'the password is not sent back');
    await page.getByLabel('사업자등록번호').fill(good);
    await page.getByLabel('비밀번호').fill('shop-test-password');
    await page.getByRole('button', { name: '신청하기' }).click();
    await page.waitForURL('**/shop/applied');
    assert.match(await page.getByRole('status').textContent(), /심사 중/);
    // The application is the API's merchant, awaiting approval.
    const token = await apiSignIn(login, 'shop-test-password');
    const me = await api('GET', '/api/v1/me', token);
    assert.equal(me.body.role, 'merchant');
    // Signing in takes the shop to its till.
    await signInWithForm(page, login, 'shop-test-password');
    await page.waitForURL((u) => u.pathname === '/shop');
    assert.equal((await page.textContent('h1')).trim(), '계산대');
    assert.equal(await page.getAttribute('#today-total', 'data-amount'), '0');
    assert.deepEqual(ctx.errors, []);
  } finally {
    await ctx.close();
  }
});

test('a citizen’s payment shows on the open till within seconds, said aloud', async () => {
  const ctx = await context(browser, 'phone');
  try {
    const page = await ctx.newPage();
    await signInShop(page, 1);
    await page.waitForFunction(() => document.getElementById('till-state').textContent.includes('실시간으로 받는 중'));
    const before = Number(await page.getAttribute('#today-total', 'data-amount'));
    const amount = oddAmount();
    const started = Date.now();
    const paid = await citizenPays('citizen-0200', 1, amount);
    assert.equal(paid.amount, amount);
    const row = page.locator(`#till-payments tbody tr td[data-amount="${amount}"]`);
    await row.first().waitFor({ timeout: 5000 });
    const shownAfter = Date.now() - started;
    console.log(`till: a payment appeared ${shownAfter} ms after the citizen paid`);
    assert.ok(shownAfter < 5000);
    assert.equal((await row.first().textContent()).trim(), `+${won(amount)}`);
    assert.match(await page.textContent('#till-announce'), /결제 받음:/);
    assert.equal(await page.getAttribute('#till-announce', 'aria-live'), 'polite');
    const after = Number(await page.getAttribute('#today-total', 'data-amount'));
    assert.ok(after >= before + amount, `${before} + ${amount} <= ${after}`);
    assert.equal((await page.textContent('#today-total')).trim(), won(after));
    assert.deepEqual(ctx.errors, []);
  } finally {
    await ctx.close();
  }
});

test('the mute switch is remembered across reloads', async () => {
  const ctx = await context(browser, 'desktop');
  try {
    const page = await ctx.newPage();
    await signInShop(page, 2);
    const mute = page.locator('#till-mute');
    assert.equal(await mute.getAttribute('aria-pressed'), 'false');
    await mute.click();
    assert.equal(await mute.getAttribute('aria-pressed'), 'true');
    assert.equal((await mute.textContent()).trim(), '소리 켜기');
    await page.reload();
    assert.equal(await page.locator('#till-mute').getAttribute('aria-pressed'), 'true');
    await page.locator('#till-mute').click();
    assert.equal(await page.locator('#till-mute').getAttribute('aria-pressed'), 'false');
  } finally {
    await ctx.close();
  }
});

test('the till charges a customer’s one-time code once, even when sent twice', async () => {
  const ctx = await context(browser, 'phone');
  try {
    const page = await ctx.newPage();
    await signInShop(page, 3);
    const { code, token } = await consumerCode('citizen-0201');
    const amount = oddAmount();
    await page.getByLabel('손님 결제 코드', { exact: true }).fill(code);
    await page.getByLabel('금액', { exact: true }).fill(amount.toLocaleString('en-US'));
    // What the form would send again on a double click: the same key.
    const form = await page.evaluate(() => Object.fromEntries(new FormData(document.getElementById('charge-form'))));
    await page.getByRole('button', { name: '결제 받기' }).click();
    await page.waitForURL((u) => u.pathname === '/shop' && u.searchParams.has('charged'));
    const result = page.locator('#charge-result');
    assert.match(await result.textContent(), new RegExp(won(amount)));
    const payment = await result.getAttribute('data-payment');
    const again = await ctx.request.post('/shop/charge', { form, maxRedirects: 0 });
    assert.equal(again.status(), 303);
    assert.equal(new URL(again.headers().location, BASE).searchParams.get('payment'), payment, 'the first answer again');
    // The citizen paid once.
    const history = await api('GET', '/api/v1/me/history?limit=20', token);
    const mine = history.body.filter((e) => e.kind === 'payment' && e.amount === -amount);
    assert.equal(mine.length, 1, JSON.stringify(history.body));
    // A used code is refused, with the service's words.
    await page.getByLabel('손님 결제 코드', { exact: true }).fill(code);
    await page.getByLabel('금액', { exact: true }).fill('1000');
    await page.getByRole('button', { name: '결제 받기' }).click();
    const alert = page.locator('#charge-error');
    await alert.waitFor();
    assert.ok((await alert.getAttribute('data-code')).length > 0);
    assert.equal(await page.getAttribute('#code', 'aria-invalid'), 'true');
  } finally {
    await ctx.close();
  }
});

test('the sales page charts today by hour and the month by day, with tables', async () => {
  const ctx = await context(browser, 'desktop');
  try {
    const page = await ctx.newPage();
    await signInShop(page, 4);
    const amount = oddAmount();
    await citizenPays('citizen-0202', 4, amount);
    await page.goto('/shop/sales');
    assert.equal((await page.textContent('h1')).trim(), '매출');
    assert.equal(await page.locator('#table-hours tbody tr').count(), 24);
    const today = Number(await page.getAttribute('#sales-today-total', 'data-amount'));
    assert.ok(today >= amount, `${today} >= ${amount}`);
    const sum = await page.evaluate(() =>
      [...document.querySelectorAll('#table-hours tbody td[data-amount]')].reduce((s, td) => s + Number(td.dataset.amount), 0),
    );
    assert.equal(sum, today);
    assert.equal(await page.getAttribute('#chart-hours', 'aria-hidden'), 'true');
    assert.ok((await page.locator('#chart-hours rect').count()) >= 1);
  } finally {
    await ctx.close();
  }
});

test('the shop pages are a merchant’s: a citizen is told so (403)', async () => {
  const ctx = await context(browser, 'phone', { lang: 'en' });
  try {
    const page = await ctx.newPage();
    await signInWithForm(page, 'citizen-0203');
    await page.waitForURL('**/wallet');
    const r = await page.goto('/shop');
    assert.equal(r.status(), 403);
    assert.equal((await page.textContent('h1')).trim(), 'This page is for shops');
  } finally {
    await ctx.close();
  }
});

sweepPages('the application page', () => browser, null, {
  'shop-apply': { path: '/shop/apply', h1: { ko: '가맹점 신청', en: 'Apply as a shop' } },
});

sweepPages('shop pages', () => browser, (page) => signInShop(page, 5), {
  'shop-till': { path: '/shop', h1: { ko: '계산대', en: 'Till' } },
  'shop-sales': { path: '/shop/sales', h1: { ko: '매출', en: 'Sales' } },
});

test('a payment picked from the till is refunded after a confirmation', async () => {
  const ctx = await context(browser, 'phone');
  try {
    const page = await ctx.newPage();
    await signInShop(page, 6);
    const amount = oddAmount();
    const paid = await citizenPays('citizen-0204', 6, amount);
    await page.reload();
    await page.locator(`#till-payments tr[data-transfer="${paid.payment}"] a`).click();
    await page.waitForURL(`**/shop/refund/${paid.payment}`);
    assert.equal((await page.textContent('h1')).trim(), '결제 환불');
    assert.equal(await page.getAttribute('#refund-paid', 'data-amount'), String(amount));
    await assertAccessible(page, 'refund confirmation');
    await page.getByLabel('환불 금액 (원)').fill('1000');
    await page.getByRole('button', { name: '환불하기' }).click();
    await page.waitForURL((u) => u.pathname === '/shop' && u.searchParams.has('refunded'));
    assert.match(await page.textContent('#refund-result'), /1,000원/);
    // More than is left is the service's refusal, told on the confirmation page.
    await page.goto(`/shop/refund/${paid.payment}`);
    await page.getByLabel('환불 금액 (원)').fill(String(amount * 10));
    await page.getByRole('button', { name: '환불하기' }).click();
    const alert = page.locator('#refund-error');
    await alert.waitFor();
    assert.ok((await alert.getAttribute('data-code')).length > 0);
    assert.deepEqual(ctx.errors, []);
  } finally {
    await ctx.close();
  }
});
