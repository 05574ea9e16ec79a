// Camera, microphone and the one RTCPeerConnection to the server (DESIGN.md section 5).
//
// The client always offers; no trickle ICE (the offer goes out once gathering is
// complete); VP8 and Opus only. Per kind the offer has one sendrecv m-line (our own
// source, and the first receive slot) and, when `slots` > 1, recvonly m-lines for the
// other slots. The server binds receive m-lines to slots in m-line order and names the
// slots in its answer (`slots`: for a party "mediator" / "other_party", for the mediator
// participant ids); without names, slot 0 is the mediator for a party and Party A for
// the mediator, slot 1 the other party (joint only) or Party B. Turning the camera off stops the camera and
// replaces the track with nothing (no renegotiation); anything that changes the
// m-lines renegotiates with a new rtc.offer.

import { call } from "./net.js";
import { setText } from "./i18n.js";

export const MODES = ["video", "audio", "text"];
const OFFER_TIMEOUT_MS = 10000;
const GATHER_TIMEOUT_MS = 3000;

/** getUserMedia constraints for a mode; "low data" is 320x240 at 15 fps. */
export function constraints(mode, lowData) {
  if (mode === "text") return null;
  const audio = { echoCancellation: true, noiseSuppression: true, autoGainControl: true };
  if (mode === "audio") return { audio, video: false };
  const video = lowData
    ? { width: { ideal: 320 }, height: { ideal: 240 }, frameRate: { ideal: 15, max: 15 } }
    : { width: { ideal: 640 }, height: { ideal: 480 }, frameRate: { ideal: 30, max: 30 } };
  return { audio, video };
}

/** Ask for camera/microphone; returns {stream} or {error: "denied" | "missing" | "failed"}. */
export async function capture(mode, lowData, { videoOnly = false } = {}) {
  const wanted = constraints(mode, lowData);
  if (wanted && videoOnly) wanted.audio = false;
  if (!wanted) return { stream: null };
  if (!navigator.mediaDevices?.getUserMedia) return { error: "missing" };
  try {
    return { stream: await navigator.mediaDevices.getUserMedia(wanted) };
  } catch (err) {
    if (err && (err.name === "NotAllowedError" || err.name === "SecurityError")) {
      return { error: "denied" };
    }
    if (err && (err.name === "NotFoundError" || err.name === "OverconstrainedError")) {
      return { error: "missing" };
    }
    return { error: "failed" };
  }
}

function preferCodecs(transceiver, kind) {
  const wanted = kind === "video" ? "video/vp8" : "audio/opus";
  const caps = RTCRtpReceiver.getCapabilities?.(kind);
  if (!caps || !transceiver.setCodecPreferences) return;
  const codecs = caps.codecs.filter((c) => c.mimeType.toLowerCase() === wanted);
  if (codecs.length) transceiver.setCodecPreferences(codecs);
}

function gatheringComplete(pc) {
  if (pc.iceGatheringState === "complete") return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => {
      if (pc.iceGatheringState === "complete") {
        pc.removeEventListener("icegatheringstatechange", done);
        resolve();
      }
    };
    pc.addEventListener("icegatheringstatechange", done);
    setTimeout(resolve, GATHER_TIMEOUT_MS); // send what we have rather than hang
  });
}

/** Whether `stream` has a video track that is receiving pictures now. */
export function showsVideo(stream) {
  return Boolean(stream?.getVideoTracks().some((t) => t.readyState === "live" && !t.muted));
}

/**
 * Wire the shared media controls of a room page (#toggle-mic, #toggle-camera,
 * #unmute-remote) to ``media``. ``remoteVideos`` lists the elements to start playing
 * when the browser blocked autoplay with sound.
 */
export function bindMediaControls(media, remoteVideos) {
  const byId = (id) => document.getElementById(id);
  byId("toggle-mic").addEventListener("click", (event) => {
    const muted = event.currentTarget.getAttribute("aria-pressed") !== "true";
    event.currentTarget.setAttribute("aria-pressed", String(muted));
    setText(event.currentTarget, muted ? "controls.unmute" : "controls.mute");
    media.setMic(!muted);
  });
  byId("toggle-camera").addEventListener("click", async (event) => {
    const button = event.currentTarget;
    const off = button.getAttribute("aria-pressed") !== "true";
    button.setAttribute("aria-pressed", String(off));
    setText(button, off ? "controls.camera_on" : "controls.camera_off");
    await media.setCamera(!off);
  });
  byId("unmute-remote").addEventListener("click", () => {
    byId("unmute-remote").hidden = true;
    for (const video of remoteVideos()) video.play().catch(() => {});
  });
}

export class Media {
  /**
   * @param {{socket: any, mode: string, lowData: boolean, slots: number,
   *          onRemote: (slot: number, stream: MediaStream) => void,
   *          onUnavailable: (reason: string) => void,
   *          onAvailable: () => void}} options
   */
  constructor({ socket, mode, lowData, slots, onRemote, onUnavailable, onAvailable }) {
    this.socket = socket;
    this.mode = mode;
    this.lowData = lowData;
    this.slots = slots;
    this.onRemote = onRemote;
    this.onUnavailable = onUnavailable;
    this.onAvailable = onAvailable || (() => {});
    this.local = null; // our captured MediaStream
    this.pc = null;
    this.senders = {}; // kind -> RTCRtpSender of our own source
    this.receivers = []; // [{kind, slot, transceiver}]
    this.remote = []; // slot -> MediaStream
    this.slotNames = []; // slot -> the server's name for its source
    this.micOn = true;
    this.cameraOn = mode === "video";
    this.cameraHeld = false; // camera kept off for a while (joint without camera)
    this.queue = Promise.resolve();
    this.cameraQueue = Promise.resolve();
    this.captured = false; // start() has asked for the devices once
    this.stopped = false;
  }

  get kinds() {
    if (this.mode === "video") return ["audio", "video"];
    if (this.mode === "audio") return ["audio"];
    return [];
  }

  /** Capture (if the mode needs it) and connect. Failures end in onUnavailable. */
  async start(existingStream) {
    if (this.mode === "text") return;
    if (existingStream) {
      this.local = existingStream;
    } else {
      const got = await capture(this.mode, this.lowData);
      if (got.error) {
        this.onUnavailable(got.error);
      } else {
        this.local = got.stream;
      }
    }
    this.captured = true;
    if (this.stopped) {
      this.stopTracks();
      return;
    }
    await this.applyCamera(); // a hold or "off" may have come in while we waited
    await this.connect();
  }

  localTrack(kind) {
    return this.local?.getTracks().find((t) => t.kind === kind && t.readyState === "live") || null;
  }

  async iceServers() {
    // Time-limited TURN credentials, when the operator configured TURN.
    const ack = await call(this.socket, "rtc.config", {}, 3000);
    return ack.ok && Array.isArray(ack.ice_servers) ? ack.ice_servers : [];
  }

  /** (Re)build the peer connection and negotiate; used at start and after a reconnect. */
  async connect() {
    if (this.mode === "text" || this.stopped) return;
    this.closePeer();
    const pc = new RTCPeerConnection({ iceServers: await this.iceServers(), bundlePolicy: "max-bundle" });
    this.pc = pc;
    this.receivers = [];
    this.remote = [];
    for (let slot = 0; slot < this.slots; slot++) {
      for (const kind of this.kinds) {
        const track = slot === 0 ? this.localTrack(kind) : null;
        const usable = track && !(kind === "video" && (!this.cameraOn || this.cameraHeld));
        const transceiver = pc.addTransceiver(usable ? track : kind, {
          direction: slot === 0 ? "sendrecv" : "recvonly",
          streams: this.local && slot === 0 ? [this.local] : [],
        });
        preferCodecs(transceiver, kind);
        if (slot === 0) {
          this.senders[kind] = transceiver.sender;
          if (kind === "audio" && track) track.enabled = this.micOn;
        }
        this.receivers.push({ kind, slot, transceiver });
      }
    }
    pc.addEventListener("track", (event) => {
      const found = this.receivers.find((r) => r.transceiver === event.transceiver);
      if (!found) return;
      if (!this.remote[found.slot]) this.remote[found.slot] = new MediaStream();
      this.remote[found.slot].addTrack(event.track);
      const tell = () =>
        this.onRemote(found.slot, this.remote[found.slot], this.slotNames[found.slot]);
      // A receiving track is "muted" while nothing arrives (its route is closed).
      event.track.addEventListener("mute", tell);
      event.track.addEventListener("unmute", tell);
      tell();
    });
    pc.addEventListener("connectionstatechange", () => {
      if (pc === this.pc && pc.connectionState === "failed") this.onUnavailable("failed");
    });
    await this.limitBitrate();
    await this.negotiate();
  }

  async limitBitrate() {
    const sender = this.senders.video;
    if (!sender || !this.lowData) return;
    try {
      const params = sender.getParameters();
      if (!params.encodings || !params.encodings.length) params.encodings = [{}];
      params.encodings[0].maxBitrate = 200_000;
      params.encodings[0].maxFramerate = 15;
      await sender.setParameters(params);
    } catch {
      /* not every browser lets us set these before negotiation; constraints still apply */
    }
  }

  /** Offer (after ICE gathering), send rtc.offer, apply the answer. Serialised. */
  negotiate() {
    this.queue = this.queue.then(() => this.negotiateNow()).catch(() => {});
    return this.queue;
  }

  async negotiateNow() {
    const pc = this.pc;
    if (!pc || this.stopped) return;
    try {
      await pc.setLocalDescription(await pc.createOffer());
      await gatheringComplete(pc);
      if (pc !== this.pc) return;
      const ack = await call(this.socket, "rtc.offer", { sdp: pc.localDescription.sdp }, OFFER_TIMEOUT_MS);
      if (pc !== this.pc) return;
      if (!ack.ok || typeof ack.sdp !== "string") {
        this.onUnavailable("server");
        return;
      }
      if (Array.isArray(ack.slots)) this.slotNames = ack.slots;
      await pc.setRemoteDescription({ type: "answer", sdp: ack.sdp });
      this.onAvailable();
    } catch {
      if (pc === this.pc) this.onUnavailable("failed");
    }
  }

  setMic(on) {
    this.micOn = on;
    const track = this.localTrack("audio");
    if (track) track.enabled = on;
  }

  /** Camera off stops the camera itself (its light goes out), not just the picture. */
  async setCamera(on) {
    this.cameraOn = on;
    await this.applyCamera();
  }

  /** Keep the camera off while `held` (joint without camera), whatever the button says. */
  async holdCamera(held) {
    if (held === this.cameraHeld) return;
    this.cameraHeld = held;
    await this.applyCamera();
  }

  /** Make the camera match the wish; one change at a time, so that quick taps or state
   * updates never open the camera twice. */
  applyCamera() {
    this.cameraQueue = this.cameraQueue.then(() => this.applyCameraNow()).catch(() => {});
    return this.cameraQueue;
  }

  async applyCameraNow() {
    if (this.mode !== "video" || !this.captured || this.stopped) return;
    const want = this.cameraOn && !this.cameraHeld;
    const current = this.localTrack("video");
    if (!want && current) {
      current.stop();
      this.local.removeTrack(current);
      await this.senders.video?.replaceTrack(null);
    } else if (want && !current) {
      const got = await capture("video", this.lowData, { videoOnly: true });
      if (got.error || !got.stream) return;
      const track = got.stream.getVideoTracks()[0];
      got.stream.getAudioTracks().forEach((t) => t.stop());
      if (!track) return;
      if (this.stopped || !(this.cameraOn && !this.cameraHeld)) {
        track.stop(); // the wish changed (or the page is exiting) while the camera opened
        return;
      }
      if (!this.local) this.local = new MediaStream();
      this.local.addTrack(track);
      if (this.senders.video) {
        await this.senders.video.replaceTrack(track);
      } else if (this.pc) {
        const transceiver = this.pc.addTransceiver(track, { direction: "sendrecv", streams: [this.local] });
        preferCodecs(transceiver, "video");
        this.senders.video = transceiver.sender;
        await this.negotiate(); // the m-lines changed
      }
    }
    this.onLocalChange?.();
  }

  stopTracks() {
    for (const track of this.local?.getTracks() || []) track.stop();
  }

  closePeer() {
    if (this.pc) {
      try {
        this.pc.close();
      } catch {
        /* already closed */
      }
    }
    this.pc = null;
    this.senders = {};
  }

  /** Stop everything at once (leave, quick exit). Synchronous on purpose. */
  stop() {
    this.stopped = true;
    this.stopTracks();
    for (const stream of this.remote) stream?.getTracks().forEach((t) => t.stop());
    this.closePeer();
  }
}
