// Message catalogues: every visible string comes from static/i18n/<lang>.json.
//
// Elements carry their key in data-i18n (text) or data-i18n-attr ("attr:key;attr:key");
// values for placeholders ({name}) ride in data-i18n-vars as JSON and are always put
// into the page as text, never as HTML. Switching language re-renders every keyed
// element, sets <html lang dir>, and remembers the choice in the page's own storage
// (sessionStorage for parties, so nothing outlives the tab).

const LANGS = ["en", "ur"];
const RTL = new Set(["ur"]);
const STORE_KEY = "sulh.lang";

let english = {};
let current = {};
let storage = null;
const listeners = [];

async function fetchCatalogue(lang) {
  const response = await fetch(`/static/i18n/${lang}.json`, { credentials: "same-origin" });
  if (!response.ok) throw new Error(`catalogue ${lang}: ${response.status}`);
  return response.json();
}

/** The text for `key` with {placeholders} filled in (English if missing, then the key). */
export function t(key, vars = {}) {
  const text = current[key] ?? english[key] ?? key;
  return text.replace(/\{(\w+)\}/g, (whole, name) => (name in vars ? String(vars[name]) : whole));
}

/** Give `el` the text of `key` now and after every language switch. */
export function setText(el, key, vars) {
  el.dataset.i18n = key;
  if (vars) el.dataset.i18nVars = JSON.stringify(vars);
  else delete el.dataset.i18nVars;
  el.textContent = t(key, vars || {});
}

/** Same for an attribute (aria-label, title, placeholder). */
export function setAttr(el, attr, key, vars) {
  const pairs = (el.dataset.i18nAttr || "")
    .split(";")
    .filter((p) => p && !p.startsWith(attr + ":"));
  pairs.push(`${attr}:${key}`);
  el.dataset.i18nAttr = pairs.join(";");
  if (vars) el.dataset.i18nVars = JSON.stringify(vars);
  el.setAttribute(attr, t(key, vars || {}));
}

function varsOf(el) {
  try {
    return el.dataset.i18nVars ? JSON.parse(el.dataset.i18nVars) : {};
  } catch {
    return {};
  }
}

/** Re-render every keyed element under `root`. */
export function applyAll(root = document) {
  for (const el of root.querySelectorAll("[data-i18n]")) {
    el.textContent = t(el.dataset.i18n, varsOf(el));
  }
  for (const el of root.querySelectorAll("[data-i18n-attr]")) {
    for (const pair of el.dataset.i18nAttr.split(";")) {
      const [attr, key] = pair.split(":");
      if (attr && key) el.setAttribute(attr, t(key, varsOf(el)));
    }
  }
}

export function currentLang() {
  return document.documentElement.lang;
}

/** Called after each language switch (for text built outside the keyed elements). */
export function onLanguageChange(fn) {
  listeners.push(fn);
}

export async function setLanguage(lang, { remember = true } = {}) {
  if (!LANGS.includes(lang)) return;
  current = lang === "en" ? english : await fetchCatalogue(lang);
  const html = document.documentElement;
  html.lang = lang;
  html.dir = RTL.has(lang) ? "rtl" : "ltr";
  if (remember && storage) {
    try {
      storage.setItem(STORE_KEY, lang);
    } catch {
      /* storage may be unavailable (private mode quota): the switch still works */
    }
  }
  applyAll(document);
  for (const button of document.querySelectorAll("[data-set-lang]")) {
    button.setAttribute("aria-pressed", String(button.dataset.setLang === lang));
  }
  for (const fn of listeners) fn(lang);
}

/** Load the catalogues and wire the language buttons. `store` is where the choice lives. */
export async function initI18n(store) {
  storage = store;
  english = await fetchCatalogue("en");
  current = english;
  let saved = null;
  try {
    saved = storage.getItem(STORE_KEY);
  } catch {
    saved = null;
  }
  const lang = LANGS.includes(saved) ? saved : currentLang();
  await setLanguage(lang, { remember: false });
  for (const button of document.querySelectorAll("[data-set-lang]")) {
    button.addEventListener("click", () => setLanguage(button.dataset.setLang));
  }
}

/** A time of day in the page's language. */
export function formatTime(seconds) {
  try {
    return new Intl.DateTimeFormat(currentLang(), { hour: "2-digit", minute: "2-digit" }).format(
      new Date(seconds * 1000),
    );
  } catch {
    return "";
  }
}
