// /room: the party's own caucus. The mediator's video, the encrypted chat, a status
// line saying where the mediator is, the joint-session prompt, the safety code, and
// quick exit. The page never says which party this is: it says "you".

import { ChatView } from "./chat.js";
import { loadKeyPair, safetyCode, toB64 } from "./e2ee.js";
import { installQuickExit, onExitNotify, onExitStop } from "./exit.js";
import { initI18n, setText } from "./i18n.js";
import { Media, bindMediaControls, showsVideo } from "./media.js";
import { Messaging } from "./messaging.js";
import { call, openSocket } from "./net.js";
import { KEYS } from "./party.js";

const $ = (id) => document.getElementById(id);

const page = {
  socket: null,
  media: null,
  messaging: null,
  state: null,
  ended: false,
  mediaStarted: false,
  jointNoCamera: false,
  views: {},
};

function prefs() {
  try {
    return { mode: "video", lowData: false, pseudonym: "", ...JSON.parse(sessionStorage.getItem(KEYS.prefs) || "{}") };
  } catch {
    return { mode: "video", lowData: false, pseudonym: "" };
  }
}

// After a quick exit the page is blank: late socket events must not touch it.
const gone = () => document.documentElement.classList.contains("exiting");

function setStatus(key, state) {
  const line = $("status-line");
  if (!line) return;
  if (line.dataset.i18n !== key) setText(line, key);
  line.dataset.state = state;
}

function showNotice(key) {
  setText($("notice"), key);
}

function mediator() {
  return page.state?.peers.find((p) => p.role === "mediator") || null;
}

function myCaucus(state) {
  return `${state.me.role}_caucus`;
}

function nameOf(from) {
  const m = mediator();
  if (m && from === m.id) return { key: "who.mediator" };
  return { key: "who.other_party" };
}

// -- state -------------------------------------------------------------------

function statusFor(state) {
  if (state.case.status === "closed") return ["status.closed", "closed"];
  if (state.me.place === "joint") return ["status.joint", "joint"];
  return [`status.mediator.${state.mediator}`, state.mediator];
}

function applyState(state) {
  if (gone()) return;
  const before = page.state;
  page.state = state;
  const msg = page.messaging;
  msg.setMe(state.me.id);
  msg.learnKeys(state.peers);
  const caucus = myCaucus(state);
  if (!msg.views.has(caucus)) msg.attach(caucus, page.views.caucus);
  const [key, tone] = statusFor(state);
  setStatus(key, tone);

  // Safety code with the mediator.
  const m = mediator();
  const code = document.querySelector("#verify [data-code]");
  if (m?.public_key) {
    const groups = safetyCode(toB64(page.keyPair.publicKey), m.public_key);
    if (code.dataset.value !== groups.join(" ")) {
      code.dataset.value = groups.join(" ");
      code.replaceChildren(
        ...groups.map((g) => {
          const span = document.createElement("span");
          span.className = "group";
          span.textContent = g;
          return span;
        }),
      );
    }
  }

  // Chat: the caucus chat is always open to write (the mediator reads on return).
  page.views.caucus.setEnabled(Boolean(m?.public_key), m?.public_key ? null : "chat.no_mediator_yet");
  const inJoint = state.me.place === "joint";
  const jointChat = state.chats.includes("joint");
  $("chat-joint").hidden = !jointChat;
  if (jointChat && !(before && before.chats.includes("joint"))) msg.sync("joint");

  // Joint session.
  const joint = state.joint;
  $("joint-prompt").hidden = !(joint.status === "proposed" && joint.my_consent !== true);
  $("joint-waiting").hidden = !(joint.status === "proposed" && joint.my_consent === true);
  $("joint-banner").hidden = !(joint.status === "open" && inJoint);
  $("joint-nocam-field").hidden = prefs().mode !== "video";

  // Video tiles: the mediator's picture only while the mediator is here.
  const mediatorHere = state.mediator === "with_you" || inJoint;
  const hasVideo = showsVideo($("video-mediator").srcObject);
  $("video-mediator").hidden = !(mediatorHere && hasVideo);
  const placeholder = $("placeholder-mediator");
  placeholder.hidden = mediatorHere && hasVideo;
  setText(placeholder, mediatorHere ? "room.video.none" : "room.video.waiting");
  $("tile-other").hidden = !inJoint;
  const otherVideo = showsVideo($("video-other").srcObject);
  $("video-other").hidden = !otherVideo;
  $("placeholder-other").hidden = otherVideo;
  page.media?.holdCamera(inJoint && page.jointNoCamera);
}

const NOTICE_KEYS = new Set([
  "mediator_joined",
  "mediator_left_for_other_party",
  "mediator_away",
  "mediator_offline",
  "joint_proposed",
  "joint_opened",
  "joint_closed",
]);

function onNotice(notice) {
  if (gone()) return;
  if (notice.code === "session_revoked") return end("ended.revoked", { wipe: true });
  if (notice.code === "case_closed") return end("ended.closed", { wipe: true });
  if (NOTICE_KEYS.has(notice.code)) showNotice(`notice.${notice.code}`);
}

// -- ending --------------------------------------------------------------------

function wipe() {
  for (const key of Object.values(KEYS)) sessionStorage.removeItem(key);
}

function end(bodyKey, { wipe: forget = false, rejoin = false } = {}) {
  if (page.ended || gone()) return;
  page.ended = true;
  page.media?.stop();
  if (page.socket) {
    page.socket.io.opts.reconnection = false;
    page.socket.disconnect();
  }
  if (forget) wipe();
  $("room").hidden = true;
  const ended = $("ended");
  ended.hidden = false;
  setText($("ended-body"), bodyKey);
  $("rejoin").hidden = !rejoin;
  ended.focus();
}

async function leave() {
  if (page.socket?.connected) await call(page.socket, "leave", {}, 2000);
  end("ended.left", { rejoin: true });
}

// -- media ---------------------------------------------------------------------

function playRemote(video, stream) {
  if (video.srcObject !== stream) video.srcObject = stream;
  video.play().catch(() => {
    $("unmute-remote").hidden = false; // autoplay with sound refused: ask for a tap
  });
}

function showLocal() {
  const video = $("video-self");
  const media = page.media;
  const hasVideo = Boolean(media?.localTrack("video"));
  if (media?.local && hasVideo) {
    video.srcObject = media.local;
  } else {
    video.srcObject = null;
  }
  video.hidden = !hasVideo;
  $("placeholder-self").hidden = hasVideo;
}

function setupMedia(pref) {
  if (pref.mode === "text") {
    $("stage").hidden = true;
    $("toggle-mic").hidden = true;
    $("toggle-camera").hidden = true;
    return;
  }
  if (pref.mode === "audio") {
    $("tile-self").hidden = true;
    $("toggle-camera").hidden = true;
  }
  const media = new Media({
    socket: page.socket,
    mode: pref.mode,
    lowData: pref.lowData,
    slots: 2,
    onRemote: (slot, stream, name) => {
      const mediatorSlot = name ? name === "mediator" : slot === 0;
      playRemote(mediatorSlot ? $("video-mediator") : $("video-other"), stream);
      if (page.state) applyState(page.state);
    },
    onUnavailable: (reason) => {
      const notice = $("media-notice");
      setText(notice, `media.unavailable.${reason}`);
      notice.hidden = false;
    },
    onAvailable: () => {
      $("media-notice").hidden = true;
    },
  });
  media.onLocalChange = showLocal;
  page.media = media;
  onExitStop(() => media.stop());

  bindMediaControls(media, () => ["video-mediator", "video-other"].map((id) => $(id)));
}

// -- start -------------------------------------------------------------------

async function onConnect() {
  const { socket, messaging } = page;
  await call(socket, "key.publish", { public_key: toB64(page.keyPair.publicKey) });
  const ack = await call(socket, "state.get", {});
  if (ack.ok) applyState(ack.state);
  if (page.state) {
    await messaging.sync(myCaucus(page.state));
    if (page.state.chats.includes("joint")) await messaging.sync("joint");
  }
  if (page.media) {
    if (!page.mediaStarted) {
      page.mediaStarted = true;
      await page.media.start();
      showLocal();
    } else {
      await page.media.connect(); // after a reconnect the server's end may be gone
    }
  }
}

async function main() {
  installQuickExit();
  await initI18n(sessionStorage);
  const session = sessionStorage.getItem(KEYS.session);
  if (!session) {
    end("ended.nosession");
    return;
  }
  const pref = prefs();
  page.keyPair = loadKeyPair(sessionStorage, KEYS.key);
  const auth = { session };
  if (pref.pseudonym) auth.pseudonym = pref.pseudonym;
  const socket = openSocket(auth, sessionStorage.getItem(KEYS.caseId));
  page.socket = socket;
  const messaging = new Messaging({
    socket,
    keyPair: page.keyPair,
    storage: sessionStorage,
    counterName: KEYS.counter,
  });
  page.messaging = messaging;

  page.views.caucus = new ChatView($("chat-caucus"), {
    nameOf,
    onSend: (text) => messaging.send(myCaucus(page.state), text, mediator() ? [mediator()] : []),
  });
  page.views.joint = new ChatView($("chat-joint"), {
    nameOf,
    onSend: (text) => messaging.send("joint", text, page.state?.peers || []),
  });
  messaging.attach("joint", page.views.joint);

  setupMedia(pref);

  onExitStop(() => {
    socket.io.opts.reconnection = false;
  });
  onExitNotify(async () => {
    if (socket.connected) await call(socket, "safety.exit", {}, 500);
    socket.disconnect();
  });

  $("leave").addEventListener("click", leave);
  $("rejoin").addEventListener("click", () => location.reload());
  $("joint-nocam").addEventListener("change", (event) => {
    page.jointNoCamera = event.currentTarget.checked;
  });
  $("joint-yes").addEventListener("click", async () => {
    page.jointNoCamera = $("joint-nocam").checked;
    const ack = await call(socket, "joint.consent", { agree: true });
    if (!ack.ok) showNotice(`error.${ack.error?.code || "internal"}`);
  });
  $("joint-no").addEventListener("click", async () => {
    const ack = await call(socket, "joint.consent", { agree: false });
    if (ack.ok) {
      $("joint-prompt").hidden = true;
      showNotice("notice.joint_declined");
    }
  });
  for (const id of ["joint-withdraw", "joint-withdraw-pending"]) {
    $(id).addEventListener("click", async () => {
      const ack = await call(socket, "joint.withdraw", {});
      if (!ack.ok) showNotice(`error.${ack.error?.code || "internal"}`);
    });
  }

  socket.on("connect", onConnect);
  socket.on("state", applyState);
  socket.on("chat.message", (message) => messaging.receive(message));
  socket.on("notice", onNotice);
  socket.on("disconnect", (reason) => {
    if (page.ended) return;
    if (reason === "io server disconnect") {
      end("ended.server", { wipe: true });
    } else {
      setStatus("status.reconnecting", "offline");
    }
  });
  socket.on("connect_error", (err) => {
    const code = err?.data?.code;
    if (code === "unauthorized" || code === "case_closed" || code === "not_permitted") {
      end(`ended.${code}`, { wipe: true });
    } else {
      setStatus("status.reconnecting", "offline");
    }
  });
}

main();
