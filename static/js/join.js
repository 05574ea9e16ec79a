// /join#<token>: the party's first page. The token leaves the address bar at once
// (history.replaceState), waits in this tab's sessionStorage until it is redeemed, and
// is then replaced by the session. Nothing here survives a quick exit.

import { installQuickExit, onExitStop } from "./exit.js";
import { initI18n, setText } from "./i18n.js";
import { capture } from "./media.js";
import { errorCode, postJSON } from "./net.js";
import { KEYS } from "./party.js";

const $ = (id) => document.getElementById(id);
let preview = null; // {stream, audioContext, timer}

function readToken() {
  const fromHash = location.hash.length > 1 ? decodeURIComponent(location.hash.slice(1)) : "";
  if (location.hash) {
    // Out of the address bar and out of this history entry, before anything else.
    history.replaceState(null, "", location.pathname + location.search);
  }
  if (fromHash) {
    sessionStorage.setItem(KEYS.invite, fromHash);
    return fromHash;
  }
  return sessionStorage.getItem(KEYS.invite) || "";
}

function selectedMode() {
  return document.querySelector("input[name=mode]:checked")?.value || "video";
}

function stopPreview() {
  if (!preview) return;
  clearInterval(preview.timer);
  preview.stream?.getTracks().forEach((t) => t.stop());
  preview.audioContext?.close().catch(() => {});
  preview = null;
  $("preview").srcObject = null;
  $("preview-box").hidden = true;
  $("test-stop").hidden = true;
  $("test-start").hidden = false;
}

async function startPreview() {
  stopPreview();
  const mode = selectedMode();
  const status = $("device-status");
  if (mode === "text") {
    setText(status, "join.test.textmode");
    return;
  }
  setText(status, "join.test.asking");
  const got = await capture(mode, $("low-data").checked);
  if (got.error) {
    setText(status, `devices.${got.error}`);
    return;
  }
  preview = { stream: got.stream };
  const box = $("preview-box");
  box.hidden = false;
  const video = $("preview");
  video.hidden = mode !== "video";
  video.srcObject = got.stream;
  $("test-start").hidden = true;
  $("test-stop").hidden = false;
  setText(status, mode === "video" ? "join.test.ok.video" : "join.test.ok.audio");
  try {
    const ctx = new AudioContext();
    const analyser = ctx.createAnalyser();
    analyser.fftSize = 512;
    ctx.createMediaStreamSource(got.stream).connect(analyser);
    const data = new Uint8Array(analyser.fftSize);
    preview.audioContext = ctx;
    preview.timer = setInterval(() => {
      analyser.getByteTimeDomainData(data);
      let peak = 0;
      for (const v of data) peak = Math.max(peak, Math.abs(v - 128) / 128);
      $("mic-level").value = peak;
    }, 100);
  } catch {
    /* the level meter is a nicety; the preview still works without it */
  }
}

async function enter(token) {
  const error = $("join-error");
  error.hidden = true;
  const button = $("join-enter");
  button.disabled = true;
  const result = await postJSON("/api/invites/redeem", { token });
  if (!result.ok) {
    button.disabled = false;
    setText(error, `error.${errorCode(result)}`);
    error.hidden = false;
    error.focus?.();
    return;
  }
  stopPreview();
  sessionStorage.removeItem(KEYS.invite);
  sessionStorage.setItem(KEYS.session, result.body.session);
  sessionStorage.setItem(KEYS.caseId, result.body.case_id);
  sessionStorage.setItem(
    KEYS.prefs,
    JSON.stringify({
      mode: selectedMode(),
      lowData: $("low-data").checked,
      pseudonym: $("pseudonym").value.trim().slice(0, 40),
    }),
  );
  // replace, not assign: the join page does not stay in the back history.
  location.replace("/room");
}

async function main() {
  let token = readToken(); // first: the token must leave the URL before anything else
  // A new link pasted into this same tab only changes the fragment (no reload).
  window.addEventListener("hashchange", () => {
    const fresh = readToken();
    if (!fresh) return;
    token = fresh;
    $("join-error").hidden = true;
    $("join-enter").disabled = false;
    $("join-missing").hidden = true;
    $("join-resume").hidden = true;
    $("join-form").hidden = false;
  });
  installQuickExit();
  onExitStop(stopPreview);
  await initI18n(sessionStorage);
  const form = $("join-form");
  wireForm(form, () => token);
  if (!token) {
    if (sessionStorage.getItem(KEYS.session)) $("join-resume").hidden = false;
    else $("join-missing").hidden = false;
    return;
  }
  form.hidden = false;
}

function wireForm(form, currentToken) {
  $("test-start").addEventListener("click", startPreview);
  $("test-stop").addEventListener("click", stopPreview);
  for (const radio of document.querySelectorAll("input[name=mode]")) {
    radio.addEventListener("change", () => {
      if (preview) startPreview();
    });
  }
  $("low-data").addEventListener("change", () => {
    if (preview) startPreview();
  });
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    enter(currentToken());
  });
}

main();
