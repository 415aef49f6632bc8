// The live till (/shop): payments appear as they arrive, from the page's own
// server-sent events (/shop/live). Each new payment is added to the table, said in the
// live region, flashed, and beeped with WebAudio unless muted (remembered in this
// browser). Also reads a customer's code with the camera where the browser has
// BarcodeDetector. Without this file the page still works (reload to see payments).

const MUTE_KEY = "maeul.till.muted";

const table = document.getElementById("till-payments");
const body = table && table.tBodies[0];
const announce = document.getElementById("till-announce");
const state = document.getElementById("till-state");
const mute = document.getElementById("till-mute");
const total = document.getElementById("today-total");
const count = document.getElementById("today-count");
const lang = table ? table.dataset.lang : "ko";

function won(n) {
  const sign = n < 0 ? "\u2212" : "";
  const digits = Math.abs(n).toLocaleString("en-US");
  return lang === "en" ? `${sign}\u20a9${digits}` : `${sign}${digits}\uc6d0`;
}

function pad(n) {
  return String(n).padStart(2, "0");
}

// Korea Standard Time, as the server shows it: 2026-12-04 15:04.
function kst(us) {
  const d = new Date(Math.floor(us / 1000) + 9 * 3600 * 1000);
  const date = `${d.getUTCFullYear()}-${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())}`;
  const time = `${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}`;
  return { text: `${date} ${time}`, iso: `${date}T${time}:${pad(d.getUTCSeconds())}+09:00` };
}

function muted() {
  try {
    return localStorage.getItem(MUTE_KEY) === "1";
  } catch {
    return false;
  }
}

function showMute() {
  if (!mute) return;
  const on = muted();
  mute.hidden = false;
  mute.setAttribute("aria-pressed", on ? "true" : "false");
  mute.textContent = on ? mute.dataset.unmute : mute.dataset.mute;
}

let audio = null;
function beep() {
  if (muted()) return;
  try {
    audio = audio || new AudioContext();
    const osc = audio.createOscillator();
    const gain = audio.createGain();
    osc.type = "sine";
    osc.frequency.value = 880;
    gain.gain.setValueAtTime(0.0001, audio.currentTime);
    gain.gain.exponentialRampToValueAtTime(0.2, audio.currentTime + 0.02);
    gain.gain.exponentialRampToValueAtTime(0.0001, audio.currentTime + 0.25);
    osc.connect(gain).connect(audio.destination);
    osc.start();
    osc.stop(audio.currentTime + 0.3);
  } catch {
    // No sound here (no audio device, or not allowed yet): the row and the words remain.
  }
}

function addPayment(e) {
  if (!body) return;
  const at = kst(e.at);
  const row = document.createElement("tr");
  row.dataset.kind = e.kind;
  if (e.transfer !== undefined) row.dataset.transfer = String(e.transfer);
  row.className = "arrived";
  const when = document.createElement("td");
  const time = document.createElement("time");
  time.dateTime = at.iso;
  time.textContent = at.text;
  when.append(time);
  const what = document.createElement("td");
  what.textContent = table.dataset.kindPayment;
  const amount = document.createElement("td");
  amount.className = "num";
  amount.dataset.amount = String(e.amount);
  amount.textContent = `+${won(e.amount)}`;
  const refund = document.createElement("td");
  if (e.transfer !== undefined) {
    const a = document.createElement("a");
    a.href = `/shop/refund/${e.transfer}`;
    a.textContent = table.dataset.refund;
    const more = document.createElement("span");
    more.className = "visually-hidden";
    more.textContent = ` ${won(e.amount)} ${at.text}`;
    a.append(more);
    refund.append(a);
  }
  row.append(when, what, amount, refund);
  body.prepend(row);
  while (body.rows.length > 50) body.deleteRow(body.rows.length - 1);
  document.getElementById("till-empty")?.remove();
  if (total) {
    const t = Number(total.dataset.amount || "0") + e.amount;
    total.dataset.amount = String(t);
    total.textContent = won(t);
    total.classList.remove("flash");
    void total.offsetWidth;
    total.classList.add("flash");
  }
  if (count) {
    const c = Number(count.dataset.count || "0") + 1;
    count.dataset.count = String(c);
    count.textContent = String(c);
  }
  if (announce) announce.textContent = `${announce.dataset.received} ${won(e.amount)}`;
  beep();
}

function say(which) {
  if (state) state.textContent = state.dataset[which] || "";
}

if (mute) {
  showMute();
  mute.addEventListener("click", () => {
    try {
      localStorage.setItem(MUTE_KEY, muted() ? "0" : "1");
    } catch {
      // Not remembered (storage off): nothing else to do.
    }
    showMute();
  });
}

if (body && "EventSource" in window) {
  say("connecting");
  const source = new EventSource("/shop/live");
  source.addEventListener("open", () => say("on"));
  source.addEventListener("error", () => say("off"));
  source.addEventListener("payment", (ev) => {
    try {
      addPayment(JSON.parse(ev.data));
    } catch {
      // A malformed event is skipped; the next reload shows the history.
    }
  });
  window.addEventListener("pagehide", () => source.close());
}

// The camera: the customer's code is read from the video, by the browser's own
// BarcodeDetector where there is one, elsewhere by sending a frame at a time to
// /shop/scan (decoded by the server). The code goes into the field, and the cashier
// checks the amount and takes the payment.
const scan = document.getElementById("scan");
const video = document.getElementById("scan-video");
const start = document.getElementById("scan-start");
const stop = document.getElementById("scan-stop");
const scanStatus = document.getElementById("scan-status");
const codeField = document.getElementById("code");
const csrfField = document.querySelector('#charge-form input[name="csrf"]');
/** Server answers that mean "keep looking": no code in this frame yet, or busy. */
const KEEP_LOOKING = new Set(["image_no_qr_code", "image_qr_unreadable", "busy", "overloaded"]);
/** How often a frame is looked at (milliseconds). */
const EVERY_MS = 700;

async function detectorIfAny() {
  if (!("BarcodeDetector" in window)) return null;
  try {
    const formats = await window.BarcodeDetector.getSupportedFormats();
    return formats.includes("qr_code") ? new window.BarcodeDetector({ formats: ["qr_code"] }) : null;
  } catch {
    return null;
  }
}

/** The code in the video's current frame: its text, null to keep looking. */
async function readFrame(detector, canvas) {
  if (video.readyState < 2) return null;
  if (detector) {
    const found = await detector.detect(video);
    return found.length > 0 ? found[0].rawValue : null;
  }
  canvas.width = video.videoWidth;
  canvas.height = video.videoHeight;
  canvas.getContext("2d").drawImage(video, 0, 0);
  const blob = await new Promise((ok) => canvas.toBlob(ok, "image/png"));
  if (!blob) return null;
  const response = await fetch("/shop/scan", {
    method: "POST",
    body: blob,
    headers: { "Content-Type": "image/png", "X-CSRF-Token": csrfField ? csrfField.value : "" },
    credentials: "same-origin",
  });
  const answer = await response.json().catch(() => ({}));
  if (response.ok && typeof answer.code === "string") return answer.code;
  if (response.status === 503 || KEEP_LOOKING.has(answer.error)) return null;
  // A final answer that is not a code (not a pay code, refused): said, and looking goes on.
  if (scanStatus && answer.message) scanStatus.textContent = answer.message;
  return null;
}

if (scan && video && start && stop && codeField && navigator.mediaDevices?.getUserMedia) {
  scan.hidden = false;
  let stream = null;
  let timer = null;
  let looking = false;
  const canvas = document.createElement("canvas");
  const end = () => {
    if (timer) clearTimeout(timer);
    timer = null;
    if (stream) stream.getTracks().forEach((t) => t.stop());
    stream = null;
    video.srcObject = null;
    video.hidden = true;
    stop.hidden = true;
    start.hidden = false;
  };
  start.addEventListener("click", async () => {
    try {
      const detector = await detectorIfAny();
      stream = await navigator.mediaDevices.getUserMedia({ video: { facingMode: "environment" }, audio: false });
      video.srcObject = stream;
      video.hidden = false;
      stop.hidden = false;
      start.hidden = true;
      await video.play().catch(() => {});
      const loop = async () => {
        if (!stream || looking) return;
        looking = true;
        let code = null;
        try {
          code = await readFrame(detector, canvas);
        } catch {
          // The next frame is tried.
        } finally {
          looking = false;
        }
        if (code) {
          codeField.value = code;
          end();
          if (scanStatus) scanStatus.textContent = scan.dataset.read || "";
          document.getElementById("amount")?.focus();
          return;
        }
        if (stream) timer = setTimeout(loop, EVERY_MS);
      };
      timer = setTimeout(loop, EVERY_MS);
    } catch (err) {
      if (scanStatus) scanStatus.textContent = String(err && err.name ? err.name : err);
      end();
    }
  });
  stop.addEventListener("click", end);
  window.addEventListener("pagehide", end);
}
