// /console/case#<case id>: the mediator's session console. Both caucuses side by side,
// each with presence, its own chat (with unread counts), safety code and invite; one
// button per room; the current room unmistakable (colour and text); the joint session;
// a log of events such as "left (safety exit)".

import { ChatView } from "./chat.js";
import { loadKeyPair, safetyCode, toB64 } from "./e2ee.js";
import { formatTime, initI18n, setText, t } from "./i18n.js";
import { forgetCase, mediatorKeyName, partyName, partyText, showInvite, wireCopy } from "./mediator.js";
import { Media, bindMediaControls, showsVideo } from "./media.js";
import { Messaging } from "./messaging.js";
import { call, errorCode, openSocket, postJSON } from "./net.js";

const $ = (id) => document.getElementById(id);
const ROLES = ["victim", "respondent"];
const CAUCUS = { victim: "victim_caucus", respondent: "respondent_caucus" };
const page = { state: null, views: {}, media: null, socket: null, ended: false, started: false };

function caseId() {
  return decodeURIComponent(location.hash.slice(1));
}

function seat(role) {
  return page.state?.participants.find((p) => p.role === role) || null;
}

function seatById(id) {
  return page.state?.participants.find((p) => p.id === id) || null;
}

function nameOfSeat(p) {
  return partyName(p.role, p.label);
}

function nameOf(from) {
  const p = seatById(from);
  return p ? nameOfSeat(p) : { key: "who.unknown" };
}

// -- rendering ---------------------------------------------------------------

function placeText(place) {
  if (place === "joint") return { key: "case.where.joint" };
  for (const role of ROLES) {
    if (place === CAUCUS[role]) {
      return { key: "case.where.caucus", vars: { party: partyText(role, seat(role)?.label) } };
    }
  }
  return { key: "case.where.away" };
}

function presenceKey(p) {
  if (p.safety_exited) return "presence.safety_exit";
  if (!p.joined) return "presence.not_joined";
  if (!p.online) return "presence.offline";
  if (p.place === "joint") return "presence.joint";
  return "presence.online";
}

function renderSeat(p, myPlace, myKey) {
  const card = $(`caucus-${p.role}`);
  const name = nameOfSeat(p);
  setText(card.querySelector(".caucus-name"), name.key, name.vars);
  const presence = card.querySelector("[data-presence]");
  presence.dataset.presence = presenceKey(p);
  setText(presence, presenceKey(p));
  const pseudonym = card.querySelector("[data-pseudonym]");
  pseudonym.hidden = !p.pseudonym;
  if (p.pseudonym) setText(pseudonym, "case.pseudonym", { name: p.pseudonym });
  const here = myPlace === CAUCUS[p.role] || (myPlace === "joint" && p.place === "joint");
  card.classList.toggle("current", myPlace === CAUCUS[p.role]);
  card.querySelector("[data-here]").hidden = myPlace !== CAUCUS[p.role];
  const video = card.querySelector("[data-video]");
  const hasVideo = showsVideo(video.srcObject);
  video.hidden = !(here && hasVideo);
  const placeholder = card.querySelector("[data-placeholder]");
  placeholder.hidden = here && hasVideo;
  setText(placeholder, here ? "case.video.none" : "case.video.notthere");
  // Safety code for this party.
  const code = card.querySelector("[data-code]");
  const value = p.public_key && myKey ? safetyCode(myKey, p.public_key).join(" ") : "";
  if (code.dataset.value !== value) {
    code.dataset.value = value;
    if (!value) {
      const wait = document.createElement("span");
      setText(wait, "verify.waiting_party");
      code.replaceChildren(wait);
    } else {
      code.replaceChildren(
        ...value.split(" ").map((g) => {
          const span = document.createElement("span");
          span.className = "group";
          span.textContent = g;
          return span;
        }),
      );
    }
  }
  // Chat: writable once the party has joined and published a key.
  const view = page.views[p.role];
  const ready = Boolean(p.public_key) && !p.safety_exited;
  view.setEnabled(ready, ready ? null : "chat.party_not_ready");
}

function renderJoint(state) {
  const joint = state.joint;
  setText($("joint-status"), `case.joint.status.${joint.status}`);
  for (const role of ROLES) {
    const answer = joint.consents[role];
    const key = answer === true ? "case.consent.yes" : answer === false ? "case.consent.no" : "case.consent.none";
    setText($(`consent-${role}`), key, { party: partyText(role, seat(role)?.label) });
  }
  document.querySelector(".consents").hidden = joint.status === "none";
  const bothOnline = ROLES.every((r) => seat(r)?.online);
  const propose = $("joint-propose");
  propose.hidden = joint.status !== "none";
  propose.disabled = !bothOnline;
  $("joint-end").hidden = joint.status === "none";
  $("chat-joint").hidden = !state.chats.includes("joint");
}

function renderNav(state) {
  const myPlace = state.me.place || "away";
  const where = $("where");
  where.dataset.place = myPlace;
  const text = placeText(myPlace);
  setText(where, text.key, text.vars);
  for (const button of document.querySelectorAll("[data-move]")) {
    const to = button.dataset.move;
    const current = to === myPlace;
    button.setAttribute("aria-pressed", String(current));
    button.classList.toggle("current", current);
    if (to === "joint") {
      button.hidden = state.joint.status !== "open";
      setText(button, current ? "case.nav.here_joint" : "case.nav.joint");
    } else if (to === "away") {
      setText(button, current ? "case.nav.here_away" : "case.nav.away");
    } else {
      const role = to === CAUCUS.victim ? "victim" : "respondent";
      setText(button, current ? "case.nav.here" : "case.nav.go", { party: partyText(role, seat(role)?.label) });
    }
  }
}

function applyState(state) {
  if (page.ended) return;
  const before = page.state;
  page.state = state;
  page.messaging.setMe(state.me.id);
  page.messaging.learnKeys(state.participants);
  document.title = t("title.console");
  const title = $("case-title");
  if (state.case.label) {
    delete title.dataset.i18n;
    title.dir = "auto";
    title.textContent = state.case.label;
  } else {
    setText(title, "cases.unnamed");
  }
  const myKey = toB64(page.keyPair.publicKey);
  for (const p of state.participants) {
    if (p.role !== "mediator") renderSeat(p, state.me.place, myKey);
  }
  renderNav(state);
  renderJoint(state);
  if (state.me.place && page.views[placeRole(state.me.place)]) page.views[placeRole(state.me.place)].markRead();
  if (state.chats.includes("joint") && !(before && before.chats.includes("joint"))) {
    page.messaging.sync("joint");
  }
  if (state.case.status === "closed") closed();
}

function placeRole(place) {
  return ROLES.find((r) => CAUCUS[r] === place) || null;
}

function logEvent(key, vars) {
  const li = document.createElement("li");
  const time = document.createElement("time");
  time.textContent = formatTime(Date.now() / 1000);
  const text = document.createElement("span");
  setText(text, key, vars);
  li.append(time, " ", text);
  $("events").prepend(li);
}

function onNotice(notice) {
  const p = notice.participant ? seatById(notice.participant) : null;
  const party = p ? partyText(p.role, p.label) : "";
  const known = {
    party_joined: "event.party_joined",
    party_left: "event.party_left",
    party_safety_exit: "event.party_safety_exit",
    joint_opened: "event.joint_opened",
    joint_closed: "event.joint_closed",
  };
  if (known[notice.code]) logEvent(known[notice.code], { party });
  if (notice.code === "case_closed") closed();
}

function closed() {
  if (page.ended) return;
  page.ended = true;
  forgetCase(caseId());
  page.media?.stop();
  page.socket?.disconnect();
  const missing = $("case-missing");
  setText($("case-missing-title"), "case.closed.title");
  setText($("case-missing-body"), "case.closed.body");
  $("case-console").hidden = true;
  missing.hidden = false;
}

// -- actions ---------------------------------------------------------------------

async function move(to) {
  const error = $("move-error");
  error.hidden = true;
  const ack = await call(page.socket, "mediator.move", { to });
  if (!ack.ok) {
    setText(error, `error.${ack.error?.code || "internal"}`);
    error.hidden = false;
  }
}

async function jointAction(event, payload) {
  const error = $("joint-error");
  error.hidden = true;
  const ack = await call(page.socket, event, payload);
  if (!ack.ok) {
    setText(error, `error.${ack.error?.code || "internal"}`);
    error.hidden = false;
  }
}

async function reissue(role) {
  if (!confirm(t("cases.reissue.confirm", { party: partyText(role, seat(role)?.label) }))) return;
  const result = await postJSON(`/api/cases/${encodeURIComponent(caseId())}/invites/${role}`, {});
  if (!result.ok) return logEvent(`error.${errorCode(result)}`);
  showInvite($(`invite-${role}`), role, seat(role)?.label, result.body.invite);
}

async function closeCase() {
  if (!confirm(t("cases.close.confirm"))) return;
  const result = await postJSON(`/api/cases/${encodeURIComponent(caseId())}/close`, {});
  if (result.ok) closed();
  else logEvent(`error.${errorCode(result)}`);
}

// -- unread --------------------------------------------------------------------

/** After loading history: messages a party wrote after the mediator's last answer count
 * as unread, unless the mediator is in that room now. */
function countUnread(role, fresh) {
  const view = page.views[role];
  if (page.state?.me.place === CAUCUS[role]) return;
  let count = 0;
  for (const item of [...fresh].sort((a, b) => a.at - b.at)) count = item.mine ? 0 : count + 1;
  for (let i = 0; i < count; i++) view.addUnread();
}

// -- start -----------------------------------------------------------------------

function setupMedia(socket) {
  const media = new Media({
    socket,
    mode: "video",
    lowData: false,
    slots: 2,
    onRemote: (slot, stream, name) => {
      const role = (name && seatById(name)?.role) || ROLES[slot];
      if (!ROLES.includes(role)) return;
      const video = $(`caucus-${role}`).querySelector("[data-video]");
      if (video.srcObject !== stream) video.srcObject = stream;
      if (page.state) applyState(page.state);
      video.play().catch(() => {
        $("unmute-remote").hidden = false;
      });
    },
    onUnavailable: (reason) => {
      setText($("media-notice"), `media.unavailable.${reason}`);
      $("media-notice").hidden = false;
    },
    onAvailable: () => {
      $("media-notice").hidden = true;
    },
  });
  media.onLocalChange = () => {
    $("video-self").srcObject = media.local;
  };
  page.media = media;
  bindMediaControls(media, () => document.querySelectorAll("[data-video]"));
}

async function onConnect() {
  const { socket, messaging } = page;
  setText($("conn"), "case.conn.online");
  await call(socket, "key.publish", { public_key: toB64(page.keyPair.publicKey) });
  const ack = await call(socket, "state.get", {});
  if (ack.ok) applyState(ack.state);
  for (const role of ROLES) {
    const fresh = await messaging.sync(CAUCUS[role]);
    countUnread(role, fresh);
  }
  if (page.state?.chats.includes("joint")) await messaging.sync("joint");
  if (!page.started) {
    page.started = true;
    await page.media.start();
    $("video-self").srcObject = page.media.local;
  } else {
    await page.media.connect();
  }
}

async function main() {
  await initI18n(localStorage);
  const id = caseId();
  if (!id) {
    $("case-missing").hidden = false;
    return;
  }
  $("case-console").hidden = false;
  page.keyPair = loadKeyPair(localStorage, mediatorKeyName(id));
  const socket = openSocket({ case_id: id }, id);
  page.socket = socket;
  const messaging = new Messaging({
    socket,
    keyPair: page.keyPair,
    storage: localStorage,
    counterName: `sulh.mn.${id}`,
  });
  page.messaging = messaging;
  for (const role of ROLES) {
    const view = new ChatView($(`chat-${role}`), {
      nameOf,
      onSend: (text) => {
        const p = seat(role);
        return messaging.send(CAUCUS[role], text, p ? [p] : []);
      },
    });
    view.textarea.addEventListener("focus", () => view.markRead());
    page.views[role] = view;
    messaging.attach(CAUCUS[role], view);
    wireCopy($(`invite-${role}`));
  }
  page.views.joint = new ChatView($("chat-joint"), {
    nameOf,
    onSend: (text) => messaging.send("joint", text, ROLES.map(seat).filter((p) => p && p.place === "joint")),
  });
  messaging.attach("joint", page.views.joint);
  messaging.onFresh = (place) => {
    const role = placeRole(place);
    if (role && page.state?.me.place !== place) page.views[role].addUnread();
  };

  setupMedia(socket);
  for (const button of document.querySelectorAll("[data-move]")) {
    button.addEventListener("click", () => move(button.dataset.move));
  }
  for (const button of document.querySelectorAll("[data-reissue]")) {
    button.addEventListener("click", () => reissue(button.dataset.reissue));
  }
  $("joint-propose").addEventListener("click", () => jointAction("joint.propose", {}));
  $("joint-end").addEventListener("click", () => jointAction("joint.withdraw", {}));
  $("close-case").addEventListener("click", closeCase);

  socket.on("connect", onConnect);
  socket.on("state", applyState);
  socket.on("chat.message", (message) => messaging.receive(message));
  socket.on("notice", onNotice);
  socket.on("disconnect", (reason) => {
    if (page.ended) return;
    setText($("conn"), reason === "io server disconnect" ? "case.conn.ended" : "case.conn.reconnecting");
  });
  socket.on("connect_error", (err) => {
    const code = err?.data?.code;
    if (code === "unauthorized") {
      setText($("conn"), "case.conn.signin");
    } else if (code === "case_closed" || code === "not_permitted") {
      closed();
    } else {
      setText($("conn"), "case.conn.reconnecting");
    }
  });
}

main();
