// Quick exit, after GOV.UK's "Exit this page": an always-visible button, and the Shift
// key pressed three times in a row. The page blanks at once; cameras and microphones
// stop; the connections close (the server is told first, briefly, so the mediator sees
// "left (safety exit)"); this tab's storage is wiped; and the tab goes to a neutral site
// with location.replace, so this page does not stay behind in the back history.

const SHIFT_WINDOW_MS = 5000;
const NOTIFY_TIMEOUT_MS = 600;

const hooks = { stop: [], notify: [] };
let exiting = false;

/** Run `fn` synchronously when the page exits (stop tracks, close the peer connection). */
export function onExitStop(fn) {
  hooks.stop.push(fn);
}

/** `fn` returns a promise that tells the server; the exit waits for it only briefly. */
export function onExitNotify(fn) {
  hooks.notify.push(fn);
}

function blank() {
  const html = document.documentElement;
  html.classList.add("exiting");
  document.title = "";
  document.body.replaceChildren();
}

export async function quickExit() {
  if (exiting) return;
  exiting = true;
  const target = document.body.dataset.exitUrl || "about:blank";
  blank();
  for (const fn of hooks.stop) {
    try {
      fn();
    } catch {
      /* keep going: the exit must finish */
    }
  }
  try {
    sessionStorage.clear();
  } catch {
    /* storage may be unavailable */
  }
  const told = Promise.allSettled(hooks.notify.map((fn) => Promise.resolve().then(fn)));
  await Promise.race([told, new Promise((resolve) => setTimeout(resolve, NOTIFY_TIMEOUT_MS))]);
  try {
    sessionStorage.clear(); // again, in case a hook wrote to it meanwhile
  } catch {
    /* ignore */
  }
  location.replace(target);
}

/** Wire the button and the triple Shift. A Shift used as a modifier (typing a capital)
 * does not count: any other key in between starts the count again. */
export function installQuickExit() {
  document.getElementById("quick-exit")?.addEventListener("click", quickExit);
  let presses = [];
  document.addEventListener(
    "keydown",
    (event) => {
      if (event.key !== "Shift") {
        presses = [];
        return;
      }
      if (event.repeat) return;
      const now = performance.now();
      presses = presses.filter((t) => now - t < SHIFT_WINDOW_MS);
      presses.push(now);
      if (presses.length >= 3) quickExit();
    },
    true,
  );
}
