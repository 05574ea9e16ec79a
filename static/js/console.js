// /console: the mediator signs in, sees their cases, opens a case (two invite links,
// each copied on its own), re-issues an invite, closes a case.

import { currentLang, initI18n, setText, t } from "./i18n.js";
import { forgetCase, partyText, showInvite, wireCopy } from "./mediator.js";
import { errorCode, getJSON, postJSON } from "./net.js";

const $ = (id) => document.getElementById(id);

function show(id) {
  $("login").hidden = id !== "login";
  $("cases").hidden = id !== "cases";
}

function caseLink(caseId) {
  return `/console/case#${encodeURIComponent(caseId)}`;
}

function formatDate(seconds) {
  try {
    return new Intl.DateTimeFormat(currentLang(), { dateStyle: "medium", timeStyle: "short" }).format(
      new Date(seconds * 1000),
    );
  } catch {
    return "";
  }
}

function renderRow(item) {
  const row = $("case-row").content.firstElementChild.cloneNode(true);
  const name = row.querySelector(".case-name");
  name.dir = "auto";
  if (item.label) name.textContent = item.label;
  else setText(name, "cases.unnamed");
  setText(row.querySelector(".case-status"), `case.status.${item.status}`);
  const opened = row.querySelector(".case-opened");
  opened.dateTime = new Date(item.opened_at * 1000).toISOString();
  opened.textContent = formatDate(item.opened_at);
  const open = row.querySelector(".case-open");
  open.href = caseLink(item.case_id);
  setText(open, "cases.open");
  const box = row.querySelector(".case-invite");
  const input = box.querySelector("[data-invite-url]");
  input.id = `invite-${item.case_id}`;
  box.querySelector("[data-invite-label]").htmlFor = input.id;
  wireCopy(box);
  for (const button of row.querySelectorAll(".case-reissue")) {
    const role = button.dataset.role;
    setText(button, role === "victim" ? "cases.reissue.a" : "cases.reissue.b");
    button.hidden = item.status === "closed";
    button.addEventListener("click", async () => {
      if (!confirm(t("cases.reissue.confirm", { party: partyText(role, null) }))) return;
      const result = await postJSON(`/api/cases/${encodeURIComponent(item.case_id)}/invites/${role}`, {});
      if (!result.ok) return status(`error.${errorCode(result)}`);
      showInvite(box, role, null, result.body.invite);
      box.querySelector("[data-invite-url]").focus();
    });
  }
  const close = row.querySelector(".case-close");
  setText(close, "cases.close");
  close.hidden = item.status === "closed";
  close.addEventListener("click", async () => {
    if (!confirm(t("cases.close.confirm"))) return;
    const result = await postJSON(`/api/cases/${encodeURIComponent(item.case_id)}/close`, {});
    if (!result.ok) return status(`error.${errorCode(result)}`);
    forgetCase(item.case_id);
    status("cases.closed");
    loadCases();
  });
  return row;
}

function status(key) {
  setText($("cases-status"), key);
}

async function loadCases() {
  const result = await getJSON("/api/cases");
  if (result.status === 401) {
    show("login");
    $("email").focus();
    return false;
  }
  show("cases");
  const list = $("case-list");
  list.replaceChildren(...(result.body.cases || []).map(renderRow));
  $("cases-empty").hidden = list.children.length > 0;
  return true;
}

async function login(event) {
  event.preventDefault();
  const error = $("login-error");
  error.hidden = true;
  const result = await postJSON("/api/login", { email: $("email").value, password: $("password").value });
  $("password").value = "";
  if (!result.ok) {
    setText(error, result.status === 401 ? "error.login" : `error.${errorCode(result)}`);
    error.hidden = false;
    return;
  }
  await loadCases();
  $("cases-title").focus?.();
}

async function createCase(event) {
  event.preventDefault();
  const error = $("create-error");
  error.hidden = true;
  const body = {};
  const label = $("case-label").value.trim();
  if (label) body.label = label;
  const labels = {};
  for (const role of ["victim", "respondent"]) {
    const value = $(`label-${role}`).value.trim();
    if (value) labels[role] = value;
  }
  if (Object.keys(labels).length) body.labels = labels;
  const result = await postJSON("/api/cases", body);
  if (!result.ok) {
    setText(error, `error.${errorCode(result)}`);
    error.hidden = false;
    return;
  }
  const { case_id: caseId, invites } = result.body;
  for (const role of ["victim", "respondent"]) {
    showInvite($(`invite-${role}`), role, labels[role] || null, invites[role]);
  }
  $("new-case-open").href = caseLink(caseId);
  $("new-case").hidden = false;
  event.target.reset();
  await loadCases();
  $("new-case").focus();
}

async function main() {
  await initI18n(localStorage);
  $("login-form").addEventListener("submit", login);
  $("create-form").addEventListener("submit", createCase);
  for (const role of ["victim", "respondent"]) wireCopy($(`invite-${role}`));
  $("logout").addEventListener("click", async () => {
    await postJSON("/api/logout", {});
    show("login");
  });
  await loadCases();
}

main();
