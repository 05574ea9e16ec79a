// One chat (a caucus or the joint session) on the page: its message list, composer and
// unread count. Messages are de-duplicated by (sender, id), so a re-sync after a
// reconnect never shows one twice; they are kept in the order of the server's time.
// Every piece of a message goes into the DOM as text.

import { formatTime, onLanguageChange, setText } from "./i18n.js";

export class ChatView {
  /**
   * @param {HTMLElement} root  the chat's <section> (see templates/_macros.html)
   * @param {{nameOf: (from: string) => {key: string, vars?: object}, onSend: (text: string) => Promise<{ok: boolean, at?: number, code?: string}>}} options
   */
  constructor(root, { nameOf, onSend }) {
    this.root = root;
    this.list = root.querySelector("[data-messages]");
    this.empty = root.querySelector("[data-empty]");
    this.form = root.querySelector("[data-composer]");
    this.textarea = this.form.querySelector("textarea");
    this.button = this.form.querySelector("button[type=submit]");
    this.error = root.querySelector("[data-error]");
    this.unreadEl = root.querySelector("[data-unread]");
    this.nameOf = nameOf;
    this.onSend = onSend;
    this.items = new Map();
    this.unread = 0;
    this.disabled = false;
    this.form.addEventListener("submit", (event) => {
      event.preventDefault();
      this.send();
    });
    this.textarea.addEventListener("keydown", (event) => {
      if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) {
        event.preventDefault();
        this.send();
      }
    });
    onLanguageChange(() => this.refreshTimes());
  }

  async send() {
    const text = this.textarea.value.trim();
    if (!text || this.button.disabled) return;
    this.error.hidden = true;
    this.button.disabled = true;
    try {
      const result = await this.onSend(text);
      if (result.ok) {
        this.textarea.value = "";
      } else {
        setText(this.error, `error.${result.code || "internal"}`);
        this.error.hidden = false;
      }
    } finally {
      this.button.disabled = this.disabled;
    }
  }

  /** Enable or disable writing; `reasonKey` explains why it is off. */
  setEnabled(enabled, reasonKey) {
    this.disabled = !enabled;
    this.textarea.disabled = !enabled;
    this.button.disabled = !enabled;
    if (!enabled && reasonKey) {
      setText(this.error, reasonKey);
      this.error.hidden = false;
    } else if (enabled) {
      this.error.hidden = true;
    }
  }

  /** Add or update one message: {key, from, at, text|null, mine, pending, failed}. */
  upsert(message) {
    let entry = this.items.get(message.key);
    const fresh = !entry;
    if (fresh) {
      entry = { li: this.build(), data: {} };
      this.items.set(message.key, entry);
    }
    const moved = !fresh && message.at !== undefined && message.at !== entry.data.at;
    Object.assign(entry.data, message);
    this.render(entry);
    if (fresh || moved) this.place(entry);
    this.empty.hidden = this.items.size > 0;
    return fresh;
  }

  has(key) {
    return this.items.has(key);
  }

  build() {
    const li = document.createElement("li");
    li.className = "msg";
    const meta = document.createElement("p");
    meta.className = "meta";
    const who = document.createElement("span");
    who.className = "who";
    const time = document.createElement("time");
    const state = document.createElement("span");
    state.className = "state";
    meta.append(who, " ", time, " ", state);
    const body = document.createElement("p");
    body.className = "text";
    body.dir = "auto"; // a message keeps its own direction, whatever the page's language
    li.append(meta, body);
    return li;
  }

  render(entry) {
    const { li, data } = entry;
    const [who, time, state] = li.querySelectorAll(".who, time, .state");
    const body = li.querySelector(".text");
    li.classList.toggle("mine", Boolean(data.mine));
    li.dataset.key = data.key;
    const name = data.mine ? { key: "chat.you" } : this.nameOf(data.from);
    setText(who, name.key, name.vars);
    if (data.at) {
      time.dateTime = new Date(data.at * 1000).toISOString();
      time.textContent = formatTime(data.at);
    }
    if (data.failed) setText(state, "chat.failed");
    else if (data.pending) setText(state, "chat.sending");
    else state.textContent = "";
    if (typeof data.text === "string") {
      delete body.dataset.i18n;
      body.classList.remove("unreadable");
      body.textContent = data.text;
    } else {
      body.classList.add("unreadable");
      setText(body, "chat.unreadable");
    }
  }

  place(entry) {
    const at = entry.data.at ?? Infinity;
    for (const other of this.list.children) {
      if (other === entry.li) continue;
      const otherAt = this.items.get(other.dataset.key)?.data.at ?? Infinity;
      if (otherAt > at) {
        this.list.insertBefore(entry.li, other);
        return;
      }
    }
    this.list.append(entry.li);
  }

  refreshTimes() {
    for (const { li, data } of this.items.values()) {
      if (data.at) li.querySelector("time").textContent = formatTime(data.at);
    }
  }

  addUnread() {
    this.unread += 1;
    this.showUnread();
  }

  markRead() {
    this.unread = 0;
    this.showUnread();
  }

  showUnread() {
    if (!this.unreadEl) return;
    this.unreadEl.hidden = this.unread === 0;
    setText(this.unreadEl, "chat.unread", { count: this.unread });
  }

  clear() {
    this.items.clear();
    this.list.replaceChildren();
    this.empty.hidden = false;
    this.markRead();
  }
}
