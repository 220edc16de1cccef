"""The web UI driven in headless Chromium: sign in, upload by drag-and-drop, answer
``needs_input``, watch the journey complete, read the reports, promote and roll back.

Screenshots of every stage land in ``test-output/ui/``.
"""

from __future__ import annotations

import itertools
import re
import time
from pathlib import Path

import httpx
from playwright.sync_api import expect
from statsforecast.utils import AirPassengersDF

from tests.agents.world import diabetes_frame
from tests.ui.conftest import Tab, UiServer

BUDGET_S = 3
JOURNEY_TIMEOUT_MS = 150_000


def _drop_file(tab: Tab, name: str, text: str) -> None:
    """A real drop event carrying a File, as when a user drags one from the desktop."""
    transfer = tab.page.evaluate_handle(
        """([name, text]) => {
            const dt = new DataTransfer();
            dt.items.add(new File([text], name, { type: "text/csv" }));
            return dt;
        }""",
        [name, text],
    )
    tab.page.dispatch_event("#dropzone", "dragenter", {"dataTransfer": transfer})
    tab.page.dispatch_event("#dropzone", "drop", {"dataTransfer": transfer})


def _wait_for_journeys(http: httpx.Client, dataset_id: str, count: int) -> list[dict]:
    deadline = time.monotonic() + JOURNEY_TIMEOUT_MS / 1000
    while time.monotonic() < deadline:
        journeys = http.get("/api/v1/journeys", params={"dataset_id": dataset_id}).json()
        done = [j for j in journeys if j["state"] in {"completed", "failed"}]
        if len(done) >= count:
            assert all(j["state"] == "completed" for j in done), done
            return journeys
        time.sleep(0.5)
    raise AssertionError(f"{count} journeys of {dataset_id} did not finish")


def test_sign_in_refuses_a_wrong_token_then_accepts_the_right_one(tab: Tab) -> None:
    tab.goto("#/datasets")
    page = tab.page
    expect(page.locator("#token")).to_be_visible()  # signed out: every page asks first
    page.fill("#token", "mr_not-a-real-token")
    page.click("form.login button[type=submit]")
    expect(page.locator("form.login .alert.error")).to_contain_text("not valid")
    tab.shot("login-refused")
    page.fill("#token", tab.server.token)
    page.click("form.login button[type=submit]")
    page.wait_for_url("**/#/datasets")
    expect(page.locator("#who [data-user]")).to_have_text("ada")
    tab.shot("signed-in")
    page.click("#who button")  # sign out forgets the token
    expect(page.locator("#token")).to_be_visible()
    assert page.evaluate("sessionStorage.length") == 0


def test_upload_answer_needs_input_and_watch_the_journey_complete(tab: Tab) -> None:
    tab.sign_in()
    page = tab.page
    csv = diabetes_frame().to_csv(index=False)
    _drop_file(tab, "diabetes.csv", csv)
    expect(page.locator(".chosen")).to_contain_text("diabetes.csv")
    expect(page.locator("#dataset-id")).to_have_value("diabetes")
    tab.shot("file-dropped")
    page.click("#upload-btn")

    # No target was given: the journey opens and waits, listing the columns to choose from.
    page.wait_for_url("**/#/journeys/*")
    expect(page.locator("#journey-state .badge")).to_have_attribute("data-state", "needs_input")
    expect(page.locator("#needs-input-form .reason")).to_contain_text("choose a target column")
    expect(page.locator("[data-step=needs_input]")).to_have_attribute("data-state", "waiting")
    page.select_option("#input-target", "high_risk")
    page.check("#input-sensitive input[value=sex]")
    page.fill("#input-budget", str(BUDGET_S))
    page.fill("#input-favourable", "0")  # not high risk is the good outcome
    page.fill("#input-privileged", "sex=1")
    tab.shot("needs-input")
    page.click("#start-journey")

    # It updates live, step by step, without a reload.
    expect(page.locator("#needs-input-form")).to_have_count(0)
    expect(page.locator("[data-step=bias]")).not_to_have_attribute("data-state", "pending")
    tab.shot("running")
    expect(page.locator("#journey-state .badge")).to_have_attribute(
        "data-state", "completed", timeout=JOURNEY_TIMEOUT_MS
    )
    for step in ("needs_input", "bias", "automl", "xai", "completed"):
        node = page.locator(f"[data-step={step}]")
        expect(node).to_have_attribute("data-state", "done")
        expect(node.locator(".step-time")).to_have_text(
            re.compile(r"^\d+\.\d s$|^\d+ min( \d+ s)?$")
        )
    expect(page.locator("[data-step=automl] .step-links a")).to_have_text("diabetes-automl v1")
    expect(page.locator("#leaderboard tbody tr").first).to_be_visible()
    expect(page.locator("[data-xai]")).to_have_count(4)
    tab.shot("completed")

    # The bias report: quality tables, fairness per group of `sex`, and drawn charts.
    page.click("#open-bias")
    page.wait_for_url("**/#/bias/*")
    report = page.locator(".bias-report")
    expect(report.locator("h1")).to_have_text("Bias report: diabetes v1")
    groups = report.locator("[data-attribute=sex] table").first
    expect(groups.locator("tbody tr")).to_have_count(2)
    expect(report.locator("[data-attribute=sex]")).to_contain_text(
        "Reference group: 1 (given in privileged_groups)"
    )
    versus = report.locator("[data-attribute=sex] table").nth(1)
    expect(versus.locator("tbody tr")).to_have_count(1)  # group 2 against the reference
    expect(versus.locator("thead")).to_contain_text("Disparate impact")
    expect(report).to_contain_text("Favourable outcome: high_risk == '0' (given as")
    expect(report.locator("svg.chart rect").first).to_be_visible()
    expect(report.locator("figcaption", has_text="Selection rate by sex")).to_be_visible()
    tab.shot("bias-report")

    # The XAI reports: the beginner model explanation, then the expert one.
    page.click("a.back")
    page.click("[data-xai='model_explanation/beginner']")
    page.wait_for_url("**/#/xai/*")
    frame = page.frame_locator("#xai-frame")
    expect(frame.locator("h1")).to_contain_text("how the model decides")
    score = re.compile(r"never saw during training it scored \w+ = \d\.\d{1,4}\.$")
    expect(frame.locator("p").first).to_have_text(score)  # 0.6517, not 0.651685393258427
    expect(frame.locator("img").first).to_be_visible()
    # Nothing in the report runs (no allow-scripts); this page may measure it.
    assert page.locator("#xai-frame").get_attribute("sandbox") == "allow-same-origin"
    tab.shot("xai-beginner")
    page.click(".tabs [data-type=model_explanation][data-level=expert]")
    expect(page.locator(".tabs .tab.active")).to_have_text("Model explanation · expert")
    expect(frame.locator("body")).to_contain_text("SHAP")
    _expect_whole_frame(tab)
    tab.shot("xai-expert")


def _expect_whole_frame(tab: Tab) -> None:
    """The report is as tall as the frame: the page scrolls, not a box inside it."""
    sizes = """f => [f.contentDocument.documentElement.scrollHeight, f.clientHeight,
                     f.contentDocument.documentElement.clientHeight]"""
    deadline = time.monotonic() + 10
    while True:
        content, outer, inner = tab.page.locator("#xai-frame").evaluate(sizes)
        if content <= inner or time.monotonic() > deadline:
            break
        time.sleep(0.2)  # images still decoding: the frame follows them
    assert content <= inner, f"the report ({content}px) scrolls inside a {inner}px frame"
    assert outer > 900  # taller than the window: the expert report is long
    assert tab.page.evaluate("document.documentElement.scrollHeight") > outer


def test_a_worse_version_waits_as_challenger_then_promote_and_rollback(
    tab: Tab, ui_server: UiServer
) -> None:
    good = diabetes_frame()
    # The same patients with the labels shuffled: a deliberately worse second version.
    worse = good.assign(high_risk=good["high_risk"].sample(frac=1, random_state=7).to_numpy())
    with ui_server.http() as http:
        for frame in (good, worse):  # two versions of a dataset: two models of `promo-automl`
            r = http.post(
                f"/api/v1/datasets/upload/{ui_server.user_id}",
                files={"file": ("promo.csv", frame.to_csv(index=False).encode(), "text/csv")},
                data={
                    "dataset_id": "promo",
                    "target_column": "high_risk",
                    "time_budget_s": str(BUDGET_S),
                },
            )
            assert r.status_code == 201, r.text
            _wait_for_journeys(http, "promo", 1 if frame is good else 2)
        second = next(
            j
            for j in http.get("/api/v1/journeys", params={"dataset_id": "promo"}).json()
            if j["dataset_version"] == 2
        )

        tab.sign_in()
        page = tab.page
        tab.goto(f"#/journeys/{second['id']}")  # the journey says why v2 is not live
        expect(page.locator("#promotion")).to_contain_text(
            "Challenger, not promoted: it does not beat the champion"
        )
        tab.shot("journey-challenger")
        page.click("#nav [data-nav=models]")
        page.click("[data-model=promo-automl]")
        expect(page.locator("#champion-version")).to_have_text("v1")  # the gate kept v1
        expect(page.locator("[data-champion]")).to_have_attribute("data-champion", "1")
        expect(page.locator("[data-challenger='2']")).to_contain_text("does not beat")
        tab.shot("model-v2-challenger")

        page.click("[data-promote='2']")  # a user may still make it live
        expect(page.locator("[data-toast]")).to_contain_text("v2 is now the champion")
        expect(page.locator("#champion-version")).to_have_text("v2")
        live = http.get("/api/v1/registry/models/promo-automl").json()
        assert live["champion"]["champion_version"] == "2"  # the MLflow alias really moved
        tab.shot("promoted-v2")

        expect(page.locator("#rollback")).to_have_text("Roll back to v1")
        page.click("#rollback")
        expect(page.locator("#champion-version")).to_have_text("v1")
        live = http.get("/api/v1/registry/models/promo-automl").json()
        assert live["champion"]["champion_version"] == "1"
        reasons = [e["reason"] for e in live["champion"]["history"]]
        assert reasons == ["automl", "promoted", "rollback"]
        expect(page.locator("#champion-history tbody tr").first).to_contain_text("rollback")
        tab.shot("rolled-back")


def test_forecasting_run_draws_actuals_against_every_candidate(tab: Tab, tmp_path: Path) -> None:
    frame = AirPassengersDF.rename(columns={"ds": "month", "y": "passengers"})
    csv = tmp_path / "air.csv"
    frame[["month", "passengers"]].to_csv(csv, index=False)
    tab.sign_in()
    page = tab.page
    page.set_input_files("#file-input", str(csv))  # the click-to-browse path this time
    page.click("details.journey-settings summary")
    # The columns were read from the file's header, so the target is a choice, not a guess.
    expect(page.locator("#upload-target option")).to_have_text(
        ["Choose later", "month", "passengers"]
    )
    page.select_option("#upload-target", "passengers")
    page.select_option("#upload-task", "forecasting")
    page.fill("#upload-budget", str(BUDGET_S))
    tab.shot("upload-with-settings")
    page.click("#upload-btn")
    page.wait_for_url("**/#/journeys/*")
    expect(page.locator("#journey-state .badge")).to_have_attribute(
        "data-state", "completed", timeout=JOURNEY_TIMEOUT_MS
    )
    expect(page.locator("svg.chart.line path[data-series=actual]")).to_have_count(1)
    # A series has no sensitive groups: its first step is a data-quality report.
    expect(page.locator("[data-step=bias] .step-name")).to_have_text("Data quality")
    expect(page.locator("#open-bias")).to_have_text("Open the data-quality report")
    tab.shot("journey")
    page.click("#open-bias")
    expect(page.locator(".bias-report h1")).to_have_text("Data-quality report: air v1")
    expect(page.locator("#quality-only")).to_contain_text("no sensitive groups")
    tab.shot("data-quality-report")
    page.go_back()

    page.click("#nav [data-nav=forecasts]")
    page.click("[data-forecast=air-forecast]")
    champion = page.locator("#forecast-champion").inner_text().removeprefix("★ ")
    rows = page.locator("table.candidates tbody tr")
    expect(rows.first).to_contain_text(f"{champion} ★ champion")  # best validation score
    candidates = rows.locator("td:first-child").evaluate_all(
        "cells => cells.map(c => c.firstChild.firstChild.textContent)"
    )
    assert len(candidates) >= 4  # baselines, statistical models, Prophet, GRU, LSTM
    series = page.locator("svg.chart.line path[data-series]")
    names = series.evaluate_all("paths => paths.map(p => p.dataset.series)")
    # The actuals, then the champion, then every other candidate: one line each.
    assert names[:2] == ["actual", f"{champion} (champion)"]
    assert sorted(names[2:]) == sorted(c for c in candidates if c != champion)
    # Every line its own colour and dash: the champion's blue is nobody else's.
    looks = series.evaluate_all(
        "paths => paths.map(p => [p.getAttribute('stroke'), p.getAttribute('stroke-dasharray')])"
    )
    assert len(set(map(tuple, looks))) == len(looks), looks
    assert looks[1][0] not in {stroke for stroke, _ in looks[2:]}
    # x ticks on calendar boundaries: the first of a month, evenly stepped (monthly data).
    ticks = page.locator("svg.chart.line [data-x-tick]").evaluate_all(
        "ticks => ticks.map(t => t.dataset.xTick)"
    )
    months = [int(t[:4]) * 12 + int(t[5:7]) for t in ticks]
    assert len(ticks) >= 3 and all(re.fullmatch(r"\d{4}-\d{2}", t) for t in ticks), ticks
    assert len({b - a for a, b in itertools.pairwise(months)}) == 1, ticks
    # A combination is named by what it averages, in the legend and the table.
    with tab.server.http() as http:
        files = "/api/v1/ai-models/air-forecast/versions/1/files/evaluation.json"
        evaluation = http.get(files).json()
    combos = {n: c["members"] for n, c in evaluation["candidates"].items() if c.get("members")}
    assert combos, "no combination was built (trio_mean needs ets, theta and arima)"
    legend = page.locator(".legend").first.inner_text()
    for name, members in combos.items():
        assert f"{name}: mean of {', '.join(members)}" in legend.replace(" (champion)", "")
        cell = page.locator(f"table.candidates [data-candidate='{name}'] .members")
        expect(cell).to_have_text(f" mean of {', '.join(members)}")
    tab.shot("forecast-run")


def test_a_failed_journey_says_why_and_can_be_retried(tab: Tab, ui_server: UiServer) -> None:
    tiny = diabetes_frame().head(5).to_csv(index=False).encode()
    with ui_server.http() as http:
        r = http.post(
            f"/api/v1/datasets/upload/{ui_server.user_id}",
            files={"file": ("tiny.csv", tiny, "text/csv")},
            data={"dataset_id": "tiny", "target_column": "high_risk"},
        )
        assert r.status_code == 201, r.text
    tab.sign_in()
    page = tab.page
    tab.goto("#/datasets/tiny/journey")  # the newest version's journey, once it opens
    page.wait_for_url("**/#/journeys/*")
    expect(page.locator("#journey-state .badge")).to_have_attribute("data-state", "failed")
    alert = page.locator(".journey .alert.error")
    expect(alert).to_contain_text("5 rows")
    expect(page.locator("[data-step=needs_input]")).to_have_attribute("data-state", "failed")
    tab.shot("failed")
    with page.expect_response("**/retry") as retried:
        page.click("#retry-journey")
    assert retried.value.status == 200
    expect(alert).to_contain_text("5 rows")  # checked again: still too small, same reason


def test_dataset_page_shows_versions_schema_and_rows_as_text(tab: Tab, ui_server: UiServer) -> None:
    hostile = '<img src=x onerror="document.title=1">'
    csv = f'id,"{hostile.replace(chr(34), chr(34) * 2)}",label\n1,<b>bold</b>,0\n2,x,1\n'
    with ui_server.http() as http:
        for _ in range(2):
            r = http.post(
                f"/api/v1/datasets/upload/{ui_server.user_id}",
                files={"file": ("odd.csv", csv.encode(), "text/csv")},
                data={"dataset_id": "odd"},
            )
            assert r.status_code == 201, r.text
    tab.sign_in()
    page = tab.page
    page.click("[data-dataset=odd]")
    expect(page.locator(".tabs .tab")).to_have_text(["v2", "v1"])
    expect(page.locator(".schema .columns")).to_contain_text(hostile)  # shown, not parsed
    expect(page.locator(".preview tbody tr")).to_have_count(2)
    expect(page.locator(".preview tbody")).to_contain_text("<b>bold</b>")
    assert page.locator(".schema img, .preview b").count() == 0
    assert page.title() == "Millrace"
    page.click(".tabs .tab >> text=v1")
    expect(page.locator(".tabs .tab.active")).to_have_text("v1")
    tab.shot("dataset")


def test_the_ui_is_served_beside_the_api_without_shadowing_it(ui_server: UiServer) -> None:
    with httpx.Client(base_url=ui_server.url) as http:
        index = http.get("/")
        assert index.status_code == 200
        assert "script-src 'self'" in index.headers["content-security-policy"]
        assert '<script type="module" src="/ui/js/app.js">' in index.text
        script = http.get("/ui/js/app.js")
        assert script.status_code == 200
        assert "javascript" in script.headers["content-type"]
        # Seed 004's root paths still reach the API, which still wants a token.
        root_api = http.get("/datasets/someone")
        assert root_api.status_code == 401
        assert root_api.headers["content-type"] == "application/problem+json"
        assert http.get("/ui/../pyproject.toml").status_code == 404
