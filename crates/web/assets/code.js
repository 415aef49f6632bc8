// The one-time pay code's countdown on /wallet/code. The time left is shown each
// second; a screen reader hears it at sensible moments only (2 minutes, 1 minute, 30
// and 10 seconds left, and when the code expires), through a polite live region. When
// the code expires its image is hidden and the PIN field is focused for a new code.
// A new code comes with a new page (the PIN form posts); a fragment swapped in by
// htmx would start the countdown again too.

const ANNOUNCE_AT = new Set([120, 60, 30, 10]);

let timer = null;

function words(lang, s) {
  const m = Math.floor(s / 60);
  const r = s % 60;
  if (lang === 'en') return m ? `${m} min ${r} s` : `${r} s`;
  return m ? `${m}분 ${r}초` : `${r}초`;
}

function leftWords(lang, s) {
  return lang === 'en' ? `${words(lang, s)} left` : `${words(lang, s)} 남았습니다`;
}

function run() {
  if (timer) clearInterval(timer);
  timer = null;
  const box = document.getElementById('pay-code');
  if (!box) return;
  const expires = Number(box.dataset.expiresMs);
  const lang = box.dataset.lang;
  const left = document.getElementById('code-left');
  const announce = document.getElementById('code-announce');
  let last = null;
  const tick = () => {
    const s = Math.max(0, Math.ceil((expires - Date.now()) / 1000));
    if (s === last) return;
    last = s;
    left.textContent = words(lang, s);
    left.dataset.leftS = String(s);
    if (s === 0) {
      clearInterval(timer);
      timer = null;
      box.classList.add('expired');
      box.querySelector('.qr')?.setAttribute('hidden', '');
      document.getElementById('code-expired')?.removeAttribute('hidden');
      announce.textContent = box.dataset.expired;
      document.getElementById('code-pin')?.focus();
    } else if (ANNOUNCE_AT.has(s)) {
      announce.textContent = leftWords(lang, s);
    }
  };
  tick();
  timer = setInterval(tick, 250);
}

run();
document.body.addEventListener('htmx:afterSwap', run);
