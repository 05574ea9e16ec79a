// Where a party's page keeps things: this tab's sessionStorage only (quick exit wipes it).
export const KEYS = {
  invite: "sulh.invite",
  session: "sulh.session",
  prefs: "sulh.prefs",
  key: "sulh.key",
  counter: "sulh.n",
  caseId: "sulh.case",
};
