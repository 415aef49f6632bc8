// What people see when an operator halts a currency and publishes a notice, through
// the real API: the page says 중단됨 with the operator's words (as text, never as
// markup), what no longer works, the incident and the notice, and the same in the
// JSON; after the resume, 정상 운영 again. Leaves the demo running.

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { BASE, assertAccessible, context, launch, statusJson } from './helpers.mjs';

const PASSWORD = 'maeul-demo-password';
const HOSTILE = '<img src=x onerror="window.pwned=1"><script>window.pwned=1</script>';

let browser;
let token;
before(async () => {
  browser = await launch();
  const session = await api('POST', '/api/v1/sessions', { login: 'operator', password: PASSWORD });
  token = session.token;
  assert.ok(token, 'the demo operator signed in');
});
after(async () => {
  await browser?.close();
});

async function api(method, path, body) {
  const headers = { 'content-type': 'application/json', 'idempotency-key': randomUUID() };
  if (token) headers.authorization = `Bearer ${token}`;
  const response = await fetch(new URL(path, BASE), {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await response.text();
  assert.ok(response.ok, `${method} ${path}: ${response.status} ${text}`);
  return text ? JSON.parse(text) : null;
}

/** The status as JSON once it says `state` (answers are reused for up to 2 s). */
async function waitForState(state) {
  for (let i = 0; i < 50; i++) {
    const doc = await statusJson();
    const demo = doc.currencies.find((c) => c.code === 'demo');
    if (demo.state === state) return demo;
    await new Promise((r) => setTimeout(r, 200));
  }
  assert.fail(`the demo never became ${state}`);
}

test('a halt and a notice are shown to the public, and the resume too', async () => {
  await api('POST', '/api/v1/operator/demo/notices', {
    title_ko: `시스템 점검 안내 ${HOSTILE}`,
    title_en: `Scheduled maintenance ${HOSTILE}`,
    body_ko: '12월 5일 새벽 2시부터 4시까지 충전이 잠시 멈춥니다.',
    body_en: 'Charging pauses on 5 December from 2 to 4 a.m.',
  });
  await api('POST', '/api/v1/operator/demo/halt', { reason: `은행 점검 ${HOSTILE}` });
  try {
    const demo = await waitForState('halted');
    assert.equal(demo.reason.code, 'operator_halt');
    assert.equal(demo.reason.note, `은행 점검 ${HOSTILE}`);
    assert.deepEqual(demo.works, { payments: false, charging: false, redemption: false });
    assert.ok(demo.since_ms > 0);
    const kinds = demo.notices.map((n) => n.kind);
    assert.ok(kinds.includes('incident') && kinds.includes('notice'), JSON.stringify(demo.notices));

    for (const [lang, halted, unavailable, note] of [
      ['ko', '중단됨', '불가', '운영자 안내'],
      ['en', 'Halted', 'Unavailable', "Operator's note"],
    ]) {
      for (const size of ['phone', 'desktop']) {
        const ctx = await context(browser, size, { lang });
        try {
          const page = await ctx.newPage();
          await page.goto('/status');
          const card = page.locator('section.currency[data-currency="demo"]');
          assert.equal(await card.getAttribute('data-state'), 'halted');
          assert.equal((await card.locator('.state .label').textContent()).trim(), halted);
          assert.equal(
            (await card.locator('[data-works="payments"] .no').textContent()).replace('✕', '').trim(),
            unavailable,
          );
          // The operator's words appear as text: nothing in them ran or became markup.
          const noteText = await card.locator('p.note').textContent();
          assert.ok(noteText.includes(note) && noteText.includes(HOSTILE), noteText);
          assert.equal(await page.evaluate(() => window.pwned), undefined);
          assert.equal(await card.locator('img, script').count(), 0);
          assert.equal(await card.locator('.notices li.incident').count() >= 1, true);
          const notice = await card.locator('.notices li.notice').first().textContent();
          assert.ok(notice.includes(lang === 'ko' ? '시스템 점검 안내' : 'Scheduled maintenance'), notice);
          if (size === 'phone') await assertAccessible(page, `halted status (${lang})`);
          await page.goto('/');
          assert.equal(
            await page.getAttribute('.summary-list li[data-currency="demo"]', 'data-state'),
            'halted',
          );
          assert.deepEqual(ctx.errors, []);
        } finally {
          await ctx.close();
        }
      }
    }
  } finally {
    await api('POST', '/api/v1/operator/demo/resume');
  }
  const demo = await waitForState('running');
  assert.equal(demo.reason, null);
  assert.deepEqual(demo.works, { payments: true, charging: true, redemption: true });
  const incidents = demo.notices.filter((n) => n.kind === 'incident');
  assert.ok(incidents.length >= 2, `the halt and the resume are both incidents: ${JSON.stringify(incidents)}`);
  assert.ok(incidents[0].title.ko.includes('정상 운영'));
});
