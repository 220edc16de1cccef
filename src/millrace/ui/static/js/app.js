// The router: the URL fragment names the page (#/datasets, #/journeys/<id>, …), so the
// server only ever serves one HTML file and never needs a catch-all route.

import { ApiError, api, session, setUnauthorizedHandler } from "./api.js";
import { clear, errorBox, h } from "./dom.js";
import { current, enter, go } from "./nav.js";
import { datasetPage, datasetsPage, latestJourneyPage } from "./pages/datasets.js";
import { forecastPage, forecastsPage } from "./pages/forecasts.js";
import { journeyPage, journeysPage } from "./pages/journeys.js";
import { modelPage, modelsPage } from "./pages/models.js";
import { biasPage, xaiPage } from "./pages/reports.js";

const ROUTES = [
  [/^\/datasets$/, "datasets", datasetsPage],
  [/^\/datasets\/([^/]+)\/journey$/, "datasets", latestJourneyPage],
  [/^\/datasets\/([^/]+)(?:\/v\/(\d+))?$/, "datasets", datasetPage],
  [/^\/journeys$/, "journeys", journeysPage],
  [/^\/journeys\/([^/]+)$/, "journeys", journeyPage],
  [/^\/bias\/([^/]+)$/, "journeys", biasPage],
  [/^\/xai\/([^/]+)$/, "journeys", xaiPage],
  [/^\/models$/, "models", modelsPage],
  [/^\/models\/([^/]+)$/, "models", modelPage],
  [/^\/forecasts$/, "forecasts", forecastsPage],
  [/^\/forecasts\/([^/]+)(?:\/v\/(\d+))?$/, "forecasts", forecastPage],
];

const main = document.getElementById("main");
let loginNotice = "";

function header() {
  const user = session.user;
  const who = clear(document.getElementById("who"));
  if (user) {
    who.append(
      h("span", { class: "user", "data-user": user.user_id }, user.user_id, user.is_admin ? " (admin)" : ""),
      h(
        "button",
        {
          class: "link",
          type: "button",
          onclick: () => {
            session.clear();
            go("#/login");
          },
        },
        "Sign out",
      ),
    );
  }
  document.getElementById("nav").hidden = !user;
}

function loginPage() {
  const input = h("input", {
    id: "token",
    name: "token",
    type: "password",
    autocomplete: "current-password",
    placeholder: "mr_…",
    required: true,
  });
  const status = h("div");
  if (loginNotice) status.append(h("div", { class: "alert" }, loginNotice));
  const form = h(
    "form",
    {
      class: "card login",
      onsubmit: async (e) => {
        e.preventDefault();
        clear(status);
        const token = input.value.trim();
        try {
          const me = await api("/api/v1/users/me", { token, silent: true });
          session.save(token, me);
          loginNotice = "";
          go("#/datasets");
        } catch (err) {
          status.append(
            errorBox(err instanceof ApiError && err.status === 401 ? new Error("That token is not valid.") : err),
          );
        }
      },
    },
    h("h1", {}, "Sign in to Millrace"),
    h(
      "p",
      { class: "muted" },
      "Paste an API token. An admin makes one with ",
      h("code", {}, "millrace users create NAME"),
      "; ",
      h("code", {}, "millrace demo"),
      " prints one too. It is kept in this tab only.",
    ),
    h("label", { for: "token" }, "API token"),
    input,
    h("button", { type: "submit", class: "primary" }, "Sign in"),
    status,
  );
  return h("div", { class: "login-wrap" }, form);
}

async function render() {
  const gen = enter();
  const path = location.hash.replace(/^#/, "") || "/datasets";
  header();
  clear(main);
  if (!session.token || path === "/login") {
    if (session.token && path === "/login") session.clear();
    header();
    main.append(loginPage());
    document.getElementById("token")?.focus();
    return;
  }
  for (const link of document.querySelectorAll("[data-nav]")) link.classList.remove("active");
  for (const [pattern, nav, page] of ROUTES) {
    const match = path.match(pattern);
    if (!match) continue;
    document.querySelector(`[data-nav="${nav}"]`)?.classList.add("active");
    const args = match.slice(1).map((a) => (a === undefined ? a : decodeURIComponent(a)));
    main.append(h("p", { class: "muted loading" }, "Loading…"));
    let content;
    try {
      content = await page(...args);
    } catch (err) {
      content = errorBox(err);
    }
    if (gen !== current()) return; // the user moved on while this page loaded
    clear(main);
    if (content) main.append(content);
    return;
  }
  main.append(errorBox(new Error(`No page at ${path}.`)));
}

setUnauthorizedHandler((detail) => {
  session.clear();
  loginNotice = `Please sign in again${detail ? `: ${detail}` : "."}`;
  if (location.hash !== "#/login") location.hash = "#/login";
});

window.addEventListener("hashchange", render);
render();
