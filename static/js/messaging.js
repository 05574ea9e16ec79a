// Encrypted chat over the socket: seal per recipient, send, receive, re-sync history.
// Used by the party's room and by the mediator's console alike.

import { nextCounter, open, seal } from "./e2ee.js";
import { call, randomId } from "./net.js";

export class Messaging {
  /**
   * @param {{socket: any, keyPair: {publicKey: Uint8Array, secretKey: Uint8Array},
   *          storage: Storage, counterName: string}} options
   */
  constructor({ socket, keyPair, storage, counterName }) {
    this.socket = socket;
    this.keyPair = keyPair;
    this.storage = storage;
    this.counterName = counterName;
    this.me = null;
    this.keys = new Map(); // participant id -> every public key seen for it on this page
    this.views = new Map(); // place -> ChatView
    this.onFresh = () => {};
  }

  setMe(id) {
    this.me = id;
  }

  /** Remember keys from a state's peers/participants ([{id, public_key}]). Old keys are
   * kept, so messages sealed before a key change still open on this page. */
  learnKeys(people) {
    for (const person of people || []) {
      if (!person.public_key) continue;
      if (!this.keys.has(person.id)) this.keys.set(person.id, []);
      const known = this.keys.get(person.id);
      if (!known.includes(person.public_key)) known.unshift(person.public_key);
    }
  }

  attach(place, view) {
    this.views.set(place, view);
  }

  tryOpen(box, otherId, messageId) {
    for (const key of this.keys.get(otherId) || []) {
      const plain = open(box, key, this.keyPair.secretKey);
      // The id inside the box must be the id outside: the server cannot relabel messages.
      if (plain) return plain.id === messageId ? plain.text : null;
    }
    return null;
  }

  /** Seal `text` for each recipient ({id, public_key}) and send it to `place`'s chat. */
  async send(place, text, recipients) {
    const view = this.views.get(place);
    const usable = recipients.filter((r) => r.public_key);
    if (!usable.length) return { ok: false, code: "no_recipient" };
    const id = randomId();
    const plain = { id, n: nextCounter(this.storage, this.counterName), text };
    const boxes = {};
    for (const r of usable) boxes[r.id] = seal(plain, r.public_key, this.keyPair.secretKey);
    const key = `${this.me}:${id}`;
    view.upsert({ key, from: this.me, mine: true, text, pending: true, at: Date.now() / 1000 });
    const ack = await call(this.socket, "chat.send", { id, place, boxes }, 10000);
    if (ack.ok) {
      view.upsert({ key, pending: false, failed: false, ...(ack.at ? { at: ack.at } : {}) });
      return { ok: true };
    }
    view.upsert({ key, pending: false, failed: true });
    return { ok: false, code: ack.error?.code };
  }

  /** A `chat.message` from the server. Returns true if it was new. */
  receive(message) {
    const view = this.views.get(message.place);
    if (!view) return false;
    const key = `${message.from}:${message.id}`;
    if (view.has(key)) return false;
    const text = this.tryOpen(message.box, message.from, message.id);
    view.upsert({ key, from: message.from, at: message.at, text, mine: false });
    this.onFresh(message.place, message);
    return true;
  }

  /** Fetch `place`'s history and merge it (duplicates are ignored); returns the
   * messages that were new to this page. */
  async sync(place) {
    const view = this.views.get(place);
    const fresh = [];
    if (!view) return fresh;
    const ack = await call(this.socket, "chat.history", { place }, 10000);
    if (!ack.ok) return fresh;
    for (const item of ack.messages || []) {
      const key = `${item.from}:${item.id}`;
      const mine = item.from === this.me;
      if (view.has(key)) {
        if (mine) view.upsert({ key, pending: false, failed: false, at: item.at });
        continue;
      }
      const other = mine ? item.to : item.from;
      const text = this.tryOpen(item.box, other, item.id);
      view.upsert({ key, from: item.from, at: item.at, text, mine });
      fresh.push({ from: item.from, at: item.at, mine });
    }
    return fresh;
  }
}
