// The citizen's money pages against the demo, driven as people use them: opening a
// wallet (sign-up), the bank-account check with its refusals, a charge with its quote
// before confirming and its result, the full history with paging, a gift, cancelling a
// charge and the balance refund, and the auto-charge. Each journey checks the page
// against the API for the same user; every page passes axe-core at phone and desktop
// size and fits a phone in large text.
//
// Uses only the logins citizen-0100 … citizen-0149 and new sign-ups `web-money-…`.

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  BASE,
  DEMO_PASSWORD,
  apiSignIn,
  apiWallet,
  assertAccessible,
  context,
  launch,
  screenshot,
  signInWithForm,
  sweepPages,
} from './helpers.mjs';

const PIN = '123456';

let browser;
before(async () => {
  browser = await launch();
});
after(async () => {
  await browser?.close();
});

/** `GET /api/v1/<path>` with a bearer token: the JSON. */
async function api(token, path) {
  const response = await fetch(new URL(`/api/v1/${path}`, BASE), {
    headers: { authorization: `Bearer ${token}` },
  });
  assert.equal(response.status, 200, path);
  return response.json();
}

/** Signs in with the form and waits for the wallet. */
async function signedIn(page, login) {
  await signInWithForm(page, login);
  await page.waitForURL('**/wallet');
}

/** The number in an element's `data-amount`. */
const amountOf = async (page, selector) => Number(await page.getAttribute(selector, 'data-amount'));

/** Charges `face` through the charge page: quote, confirm, and the result once posted. */
async function chargeWithPage(page, face) {
  await page.goto('/wallet/charge');
  await page.getByLabel('충전할 금액 (원)').fill(String(face));
  await page.getByRole('button', { name: '할인과 한도 확인' }).click();
  await page.waitForSelector('#quote');
  await page.getByRole('button', { name: '충전하기' }).click();
  await page.waitForURL('**/wallet/charge/result?purchase=*');
  for (let i = 0; i < 20; i++) {
    const state = await page.getAttribute('#charge-state', 'data-state');
    if (state !== 'pending') break;
    await new Promise((r) => setTimeout(r, 250));
    await page.reload();
  }
  return Number(new URL(page.url()).searchParams.get('purchase'));
}

test('a new citizen opens a wallet from the sign-in page and lands in it', async () => {
  const ctx = await context(browser, 'phone');
  try {
    const page = await ctx.newPage();
    await page.goto('/sign-in');
    await page.getByRole('link', { name: '처음이신가요? 지갑 만들기' }).click();
    await page.waitForURL('**/sign-up');
    const login = `web-money-${Date.now()}`;
    const password = 'a-long-enough-password';
    await page.getByLabel('아이디', { exact: true }).fill(login);
    await page.getByLabel('비밀번호', { exact: true }).fill(password);
    await page.getByLabel('결제 비밀번호 (숫자 6자리)').fill(PIN);
    await page.getByLabel('태어난 해').fill('1990');
    await page.getByRole('button', { name: '지갑 만들기' }).click();
    await page.waitForURL('**/wallet');
    assert.equal((await page.textContent('h1')).trim(), '내 지갑');
    assert.equal(await amountOf(page, '#balance'), 0);
    // The same login works through the API; the wallet is the same.
    const token = await apiSignIn(login, password);
    assert.equal((await apiWallet(token)).balance, 0);
    // Taken now: a second sign-up with it is refused, in words, the form kept.
    await page.goto('/sign-up');
    await page.getByLabel('아이디', { exact: true }).fill(login);
    await page.getByLabel('비밀번호', { exact: true }).fill(password);
    await page.getByLabel('결제 비밀번호 (숫자 6자리)').fill(PIN);
    await page.getByLabel('태어난 해').fill('1990');
    await page.getByRole('button', { name: '지갑 만들기' }).click();
    const alert = page.getByRole('alert');
    await alert.waitFor();
    assert.ok((await alert.getAttribute('data-code')).length > 0);
    assert.equal(await page.inputValue('#login'), login);
    assert.equal(await page.inputValue('#password'), '');
    assert.deepEqual(ctx.errors, []);
  } finally {
    await ctx.close();
  }
});

test('the bank page walks through the holder check and the 1-won code, refusing in words', async () => {
  const ctx = await context(browser, 'phone');
  try {
    const page = await ctx.newPage();
    await signedIn(page, 'citizen-0100');
    await page.goto('/wallet/bank');
    // The demo's own account is linked (citizen-0100 is the demo's 100th: 110-000099).
    assert.equal((await page.textContent('#linked-account')).trim(), '***-**0099');
    // Someone else's account: the holder's name does not match.
    await page.getByLabel('계좌번호').fill('110-000098');
    await page.getByLabel('비밀번호', { exact: true }).fill(DEMO_PASSWORD);
    await page.getByRole('button', { name: '1원 보내기' }).click();
    let alert = page.getByRole('alert');
    await alert.waitFor();
    assert.equal(await alert.getAttribute('data-code'), 'holder_name_mismatch');
    // A wrong password is refused before anything is sent.
    await page.getByLabel('계좌번호').fill('110-000099');
    await page.getByLabel('비밀번호', { exact: true }).fill('not-the-password');
    await page.getByRole('button', { name: '1원 보내기' }).click();
    await page.getByRole('alert').waitFor();
    assert.match(await page.getAttribute('[role=alert]', 'data-code'), /password|credentials/);
    // The citizen's own: 1 won is sent, the code step follows.
    await page.getByLabel('계좌번호').fill('110-000099');
    await page.getByLabel('비밀번호', { exact: true }).fill(DEMO_PASSWORD);
    await page.getByRole('button', { name: '1원 보내기' }).click();
    await page.waitForURL('**/wallet/bank?v=*');
    for (let i = 0; i < 20; i++) {
      if ((await page.getAttribute('#verification-status', 'data-status')) !== 'in_progress') break;
      await new Promise((r) => setTimeout(r, 250));
      await page.reload();
    }
    assert.equal(await page.getAttribute('#verification-status', 'data-status'), 'code_sent');
    const tries = Number(await page.textContent('#tries-left'));
    await assertAccessible(page, 'bank code step');
    // Without consent nothing is linked (the browser asks first; a request without it
    // is refused by the service).
    const v = new URL(page.url()).searchParams.get('v');
    const csrf = await page.getAttribute('form[action="/wallet/bank/confirm"] input[name=csrf]', 'value');
    const r = await ctx.request.post('/wallet/bank/confirm', {
      form: { csrf, key: `no-consent-${Date.now()}`, id: v, code: '0000' },
      maxRedirects: 0,
    });
    assert.equal(r.status(), 422);
    assert.match(await r.text(), /data-code="consent_required"/);
    // A wrong code: told, with one try fewer.
    await page.getByLabel('인증번호 (숫자 4자리)').fill('99999');
    await page.getByLabel('위 내용에 동의합니다').check();
    await page.getByRole('button', { name: '계좌 연결하기' }).click();
    alert = page.getByRole('alert');
    await alert.waitFor();
    assert.match(await alert.getAttribute('data-code'), /code/);
    assert.equal(Number(await page.textContent('#tries-left')), tries - 1);
    assert.deepEqual(ctx.errors, []);
  } finally {
    await ctx.close();
  }
});

test('a charge shows what the scheme gives and the limits before confirming, then the result', async () => {
  const ctx = await context(browser, 'desktop');
  try {
    const page = await ctx.newPage();
    await signedIn(page, 'citizen-0101');
    const token = await apiSignIn('citizen-0101');
    const me = await api(token, 'me');
    await page.goto('/wallet/charge');
    await page.getByLabel('충전할 금액 (원)').fill('20,000');
    await page.getByRole('button', { name: '할인과 한도 확인' }).click();
    await page.waitForSelector('#quote');
    assert.equal(await amountOf(page, '#quote-face'), 20000);
    const paid = await amountOf(page, '#quote-paid');
    const discount = await amountOf(page, '#quote-discount');
    assert.equal(paid + discount, 20000);
    // This month's limit, with what was bought so far (the API's counter).
    const used = await page.locator('li[data-limit=monthly] .used').getAttribute('data-amount');
    assert.equal(Number(used), me.purchased_this_month);
    await assertAccessible(page, 'charge quote');
    // Nothing was charged by the quote.
    assert.equal((await api(token, 'me')).purchased_this_month, me.purchased_this_month);
    // A double submit of the same form is one charge.
    const form = page.locator('form[action="/wallet/charge"][method=post]');
    const fields = {
      csrf: await form.locator('input[name=csrf]').getAttribute('value'),
      key: await form.locator('input[name=key]').getAttribute('value'),
      face: '20000',
    };
    const [a, b] = await Promise.all([
      ctx.request.post('/wallet/charge', { form: fields, maxRedirects: 0 }),
      ctx.request.post('/wallet/charge', { form: fields, maxRedirects: 0 }),
    ]);
    assert.equal(a.status(), 303);
    assert.equal(b.status(), 303);
    assert.equal(a.headers().location, b.headers().location);
    await page.goto(a.headers().location);
    for (let i = 0; i < 20; i++) {
      if ((await page.getAttribute('#charge-state', 'data-state')) !== 'pending') break;
      await new Promise((r) => setTimeout(r, 250));
      await page.reload();
    }
    assert.equal(await page.getAttribute('#charge-state', 'data-state'), 'posted');
    assert.equal(await amountOf(page, '#charge-paid'), paid);
    assert.equal((await api(token, 'me')).purchased_this_month, me.purchased_this_month + 20000);
    // An amount the scheme refuses is told in its words, with the code.
    await page.goto('/wallet/charge?face=12345');
    assert.equal(await page.getAttribute('[role=alert]', 'data-code'), 'purchase_amount_invalid');
    assert.deepEqual(ctx.errors, []);
  } finally {
    await ctx.close();
  }
});

test('the history pages back through every entry, newest first', async () => {
  const ctx = await context(browser, 'phone');
  try {
    const page = await ctx.newPage();
    await signedIn(page, 'citizen-0102');
    // Enough entries for two pages: three charges of 10,000 won add three.
    const token = await apiSignIn('citizen-0102');
    let all = await api(token, 'me/history?limit=200');
    for (let i = 0; all.length <= 20 && i < 25; i++) {
      await chargeWithPage(page, 10000);
      all = await api(token, 'me/history?limit=200');
    }
    await page.goto('/wallet/history');
    const cursors = async () =>
      page.$$eval('#history tbody tr', (rows) => rows.map((r) => Number(r.dataset.cursor)));
    const first = await cursors();
    assert.equal(first.length, 20);
    assert.deepEqual(first, [...first].sort((x, y) => y - x), 'newest first');
    await page.getByRole('link', { name: '이전 내역 보기' }).click();
    await page.waitForURL('**/wallet/history?before=*');
    const second = await cursors();
    assert.ok(second.length > 0);
    assert.ok(Math.max(...second) < Math.min(...first), 'older entries on the next page');
    assert.deepEqual(ctx.errors, []);
  } finally {
    await ctx.close();
  }
});

test('a gift with the PIN: the result says what the recipient got, and they have it', async () => {
  const ctx = await context(browser, 'phone');
  try {
    const page = await ctx.newPage();
    const recipientToken = await apiSignIn('citizen-0104');
    const recipient = (await api(recipientToken, 'me')).account;
    const before = await apiWallet(recipientToken);
    await signedIn(page, 'citizen-0103');
    await page.goto('/wallet/gift');
    await page.getByLabel('받는 분의 지갑 번호').fill(String(recipient));
    await page.getByLabel('보낼 금액 (원)').fill('1000');
    // A wrong PIN first: refused in words, nothing sent.
    await page.getByLabel('결제 비밀번호 (숫자 6자리)').fill('000000');
    await page.getByRole('button', { name: '선물 보내기' }).click();
    await page.getByRole('alert').waitFor();
    assert.match(await page.getAttribute('[role=alert]', 'data-code'), /pin/);
    await page.getByLabel('결제 비밀번호 (숫자 6자리)').fill(PIN);
    await page.getByRole('button', { name: '선물 보내기' }).click();
    await page.waitForURL('**/wallet/gift?sent=*');
    assert.equal(await amountOf(page, '#gift-amount'), 1000);
    assert.equal((await page.textContent('#gift-to')).trim(), String(recipient));
    const afterGift = await apiWallet(recipientToken);
    const gifts = (w) => w.lots.filter((l) => l.source === 'gift').reduce((n, l) => n + l.amount, 0);
    assert.ok(gifts(afterGift) >= gifts(before) + 1000 - 0, JSON.stringify(afterGift.lots));
    assert.deepEqual(ctx.errors, []);
  } finally {
    await ctx.close();
  }
});

test('cancelling a charge shows what comes back before confirming, then pays it', async () => {
  const ctx = await context(browser, 'phone');
  try {
    const page = await ctx.newPage();
    await signedIn(page, 'citizen-0105');
    const purchase = await chargeWithPage(page, 10000);
    const paid = await amountOf(page, '#charge-paid');
    await page.goto('/wallet/refund');
    const item = page.locator(`li[data-purchase="${purchase}"]`);
    await item.waitFor();
    assert.equal(Number(await item.locator('.to-bank').getAttribute('data-amount')), paid);
    // The balance refund: its quote, or the service's words on why not yet.
    assert.ok((await page.locator('#balance-quote, #balance-refusal').count()) === 1);
    await assertAccessible(page, 'refund');
    await item.getByRole('button', { name: '이 충전 취소하기' }).click();
    await page.waitForURL('**/wallet/refund?done=*');
    assert.match(await page.getAttribute('#refund-done', 'data-status'), /^(paid|in_progress)$/);
    assert.equal(await amountOf(page, '#refund-amount'), paid);
    assert.equal(await page.locator(`li[data-purchase="${purchase}"]`).count(), 0);
    assert.deepEqual(ctx.errors, []);
  } finally {
    await ctx.close();
  }
});

test('the auto-charge is set, shown as the API has it, and turned off', async () => {
  const ctx = await context(browser, 'phone');
  try {
    const page = await ctx.newPage();
    await signedIn(page, 'citizen-0106');
    const token = await apiSignIn('citizen-0106');
    await page.goto('/wallet/auto-charge');
    await page.getByLabel('매달 충전하는 날').selectOption('10');
    await page.getByLabel('매달 충전할 금액 (원)').fill('30000');
    await page.getByLabel('결제할 때 모자라면 충전').check();
    await page.getByRole('button', { name: '저장' }).click();
    await page.waitForURL('**/wallet/auto-charge?saved=1&sig=*');
    assert.equal(await page.getAttribute('#auto-state', 'data-state'), 'on');
    const me = await api(token, 'me');
    assert.equal(me.auto_charge.day, 10);
    assert.equal(me.auto_charge.monthly_face, 30000);
    assert.equal(me.auto_charge.topup, true);
    assert.equal(await amountOf(page, '#auto-face'), 30000);
    // A setting the scheme refuses is told, with its code.
    await page.getByLabel('매달 충전할 금액 (원)').fill('12345');
    await page.getByRole('button', { name: '저장' }).click();
    await page.getByRole('alert').waitFor();
    assert.ok((await page.getAttribute('[role=alert]', 'data-code')).length > 0);
    await page.getByRole('button', { name: '자동 충전 끄기' }).click();
    await page.waitForURL('**/wallet/auto-charge?removed=1&sig=*');
    assert.equal(await page.getAttribute('#auto-state', 'data-state'), 'off');
    assert.equal((await api(token, 'me')).auto_charge, undefined);
    assert.deepEqual(ctx.errors, []);
  } finally {
    await ctx.close();
  }
});

test('money forms without their token, or from another site, are refused', async () => {
  const ctx = await context(browser, 'desktop');
  try {
    const page = await ctx.newPage();
    await signedIn(page, 'citizen-0107');
    for (const path of ['/wallet/charge', '/wallet/gift', '/wallet/refund/balance', '/wallet/auto-charge', '/wallet/bank']) {
      const r = await ctx.request.post(path, { form: { key: 'k' }, maxRedirects: 0 });
      assert.equal(r.status(), 403, path);
    }
    await page.goto('/wallet/gift');
    const csrf = await page.getAttribute('input[name=csrf]', 'value');
    const r = await ctx.request.post('/wallet/gift', {
      form: { csrf, key: 'k2', recipient: '10000', amount: '1000', pin: PIN },
      headers: { origin: 'http://evil.example' },
      maxRedirects: 0,
    });
    assert.equal(r.status(), 403);
  } finally {
    await ctx.close();
  }
});

sweepPages('the sign-up page', () => browser, null, {
  'sign-up': { path: '/sign-up', h1: { ko: '지갑 만들기', en: 'Open a wallet' } },
});

// The same user for every size: its pages look the same in each screenshot.
sweepPages('money pages', () => browser, (page) => signedIn(page, 'citizen-0110'), {
  'wallet-bank': { path: '/wallet/bank', h1: { ko: '계좌 연결', en: 'Bank account' } },
  'wallet-charge': { path: '/wallet/charge?face=50000', h1: { ko: '충전', en: 'Charge' } },
  'wallet-history': { path: '/wallet/history', h1: { ko: '이용 내역', en: 'History' } },
  'wallet-gift': { path: '/wallet/gift', h1: { ko: '선물하기', en: 'Send a gift' } },
  'wallet-refund': { path: '/wallet/refund', h1: { ko: '환불', en: 'Refunds' } },
  'wallet-auto-charge': { path: '/wallet/auto-charge', h1: { ko: '자동 충전', en: 'Auto-charge' } },
});
