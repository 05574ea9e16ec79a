// Shared by the mediator's pages: names for parties, invite boxes, the key store.

import { setText, t } from "./i18n.js";

// The server's default labels; shown translated unless the mediator chose their own.
const DEFAULT_LABELS = { victim: "Party A", respondent: "Party B" };
const DEFAULT_KEYS = { victim: "party.a", respondent: "party.b" };

/** {key, vars} naming a party seat: the mediator's own label, or "Party A"/"Party B". */
export function partyName(role, label) {
  if (!label || label === DEFAULT_LABELS[role]) return { key: DEFAULT_KEYS[role] };
  return { key: "party.custom", vars: { label } };
}

/** The same as plain text (for confirm dialogs). */
export function partyText(role, label) {
  const name = partyName(role, label);
  return t(name.key, name.vars);
}

/** Fill an invite box (see the invite_box macro) with `url` for the party `role`. */
export function showInvite(box, role, label, url) {
  const input = box.querySelector("[data-invite-url]");
  const caption = box.querySelector("[data-invite-label]");
  setText(caption, "invite.for", { party: partyText(role, label) });
  input.value = url;
  box.querySelector("[data-copied]").textContent = "";
  box.hidden = false;
}

/** Copy buttons: the clipboard API where allowed, else select-and-copy. */
export function wireCopy(box) {
  const button = box.querySelector("[data-copy]");
  if (!button.dataset.i18n) setText(button, "invite.copy");
  button.addEventListener("click", async () => {
    const input = box.querySelector("[data-invite-url]");
    const status = box.querySelector("[data-copied]");
    let copied = false;
    try {
      await navigator.clipboard.writeText(input.value);
      copied = true;
    } catch {
      input.focus();
      input.select();
      try {
        copied = document.execCommand("copy");
      } catch {
        copied = false;
      }
    }
    setText(status, copied ? "invite.copied" : "invite.copy_manually");
  });
}

/** Where the mediator's private key for a case lives. In localStorage (not the tab's
 * sessionStorage) so that messages parties leave while the console is closed can still
 * be read when the mediator comes back; removed when the case is closed. */
export function mediatorKeyName(caseId) {
  return `sulh.mkey.${caseId}`;
}

export function forgetCase(caseId) {
  localStorage.removeItem(mediatorKeyName(caseId));
  localStorage.removeItem(`sulh.mn.${caseId}`);
}
