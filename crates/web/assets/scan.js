// The camera on /pay: reads the shop's QR code from the camera and shows what it is,
// in the service's words. Where the browser has a BarcodeDetector, the code is read
// here and its text sent to /pay/scan-text; elsewhere a frame at a time is drawn to a
// canvas and sent as an image to /pay/scan (decoded by the server, as a photo is).
// Without JavaScript (or a camera) the photo form does the same.

const camera = document.getElementById('camera');
const toggle = document.getElementById('camera-toggle');
const video = document.getElementById('camera-video');
const answer = document.getElementById('scan-answer');

/** Answers that mean "keep looking": no code in this frame yet, or the server busy. */
const KEEP_LOOKING = new Set(['image_no_qr_code', 'image_qr_unreadable', 'busy', 'overloaded']);
/** How often a frame is looked at (milliseconds). */
const EVERY_MS = 700;

let stream = null;
let timer = null;
let busy = false;

function csrf() {
  return camera.dataset.csrf;
}

function stop() {
  if (timer) clearTimeout(timer);
  timer = null;
  if (stream) for (const t of stream.getTracks()) t.stop();
  stream = null;
  video.srcObject = null;
  video.hidden = true;
  toggle.textContent = camera.dataset.start;
  toggle.setAttribute('aria-pressed', 'false');
}

/** Shows a fragment of the server's; true when it is a final answer. */
async function show(response) {
  const html = await response.text();
  const box = document.createElement('div');
  box.innerHTML = html;
  const result = box.querySelector('[data-code]');
  const code = result ? result.dataset.code : '';
  if (KEEP_LOOKING.has(code) || response.status === 503) return false;
  answer.replaceChildren(...box.childNodes);
  return true;
}

function post(url, body, headers) {
  return fetch(url, {
    method: 'POST',
    body,
    headers: { 'HX-Request': 'true', 'X-CSRF-Token': csrf(), ...headers },
    credentials: 'same-origin',
  });
}

async function lookOnce(detector, canvas) {
  if (!stream || busy || video.readyState < 2) return false;
  busy = true;
  try {
    if (detector) {
      const codes = await detector.detect(video);
      if (!codes.length) return false;
      const form = new URLSearchParams({ payload: codes[0].rawValue, csrf: csrf() });
      return await show(await post('/pay/scan-text', form, {}));
    }
    canvas.width = video.videoWidth;
    canvas.height = video.videoHeight;
    canvas.getContext('2d').drawImage(video, 0, 0);
    const blob = await new Promise((ok) => canvas.toBlob(ok, 'image/png'));
    if (!blob) return false;
    return await show(await post('/pay/scan', blob, { 'Content-Type': 'image/png' }));
  } catch {
    return false;
  } finally {
    busy = false;
  }
}

async function detectorIfAny() {
  if (!('BarcodeDetector' in window)) return null;
  try {
    const formats = await window.BarcodeDetector.getSupportedFormats();
    return formats.includes('qr_code') ? new window.BarcodeDetector({ formats: ['qr_code'] }) : null;
  } catch {
    return null;
  }
}

async function start() {
  try {
    stream = await navigator.mediaDevices.getUserMedia({
      video: { facingMode: 'environment' },
      audio: false,
    });
  } catch {
    stream = null;
    return;
  }
  video.srcObject = stream;
  video.hidden = false;
  await video.play().catch(() => {});
  toggle.textContent = camera.dataset.stop;
  toggle.setAttribute('aria-pressed', 'true');
  const detector = await detectorIfAny();
  const canvas = document.createElement('canvas');
  const loop = async () => {
    if (!stream) return;
    if (await lookOnce(detector, canvas)) {
      stop();
      answer.querySelector('h3')?.focus?.();
      return;
    }
    timer = setTimeout(loop, EVERY_MS);
  };
  timer = setTimeout(loop, EVERY_MS);
}

if (camera && toggle && video && answer && navigator.mediaDevices?.getUserMedia) {
  camera.hidden = false;
  toggle.addEventListener('click', () => (stream ? stop() : start()));
}
