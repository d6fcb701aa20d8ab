"""The live page in a real headless Chromium (Debian's, driven by playwright): no console errors; a posted job turns verified.

Skips with its reason where Chromium or playwright is absent (scripts/bootstrap.sh
installs Chromium where apt works). The screenshot lands in the test's tmp folder,
or at ``$ZKML_SERVE_SCREENSHOT`` (the benchmark run saves one under benchmarks/results/).
"""

from __future__ import annotations

import os
import shutil
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from tests.serve.conftest import LiveServer, Market, jittered_inputs

CHROMIUM_FLAGS = ["--no-sandbox", "--disable-background-networking", "--disable-component-update", "--disable-gpu"]


def chromium_path() -> str:
    found = os.environ.get("ZKML_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
    if not found:
        pytest.skip("Debian chromium is not installed (apt-get install -y chromium; scripts/bootstrap.sh tries it)")
    return found


def test_live_page_shows_a_job_turning_verified(served: Any, market: Market, signer: str, tmp_path: Path) -> None:
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed (pip install 'zkml[dev]')")
    from zkml.oracle.feed import attested_input
    from zkml.oracle.mirror import ReturnsSpec
    from zkml.serve.service import ServeConfig, Service
    from zkml.serve.tokens import create_token

    executable = chromium_path()
    model = replace(served, binding=market.binding())
    service = Service(ServeConfig(store_url=str(tmp_path / "jobs.sqlite"), data_dir=tmp_path / "data"), {model.name: model}).start()
    screenshot = Path(os.environ.get("ZKML_SERVE_SCREENSHOT") or tmp_path / "serve_page.png")
    try:
        _, secret = create_token(service.store, "t", frozenset({"prove", "publish"}))
        with LiveServer(service) as server, sync_api.sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=executable, headless=True, args=CHROMIUM_FLAGS)
            try:
                page = browser.new_page(viewport={"width": 1400, "height": 900})
                problems: list[str] = []
                page.on("console", lambda m: problems.append(f"console {m.type}: {m.text}") if m.type == "error" else None)
                page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
                page.goto(server.url + "/")
                page.wait_for_selector("#models tbody tr", timeout=30_000)
                assert "mlp_regressor" in page.inner_text("#models")
                # Before anything is published, the predictions table says what to do (this model has an oracle).
                page.wait_for_selector("#predictions tr.empty", timeout=30_000)
                empty = page.inner_text("#predictions")
                assert "No predictions published yet" in empty and '"publish": true' in empty and "--oracle" not in empty

                client = server.client(secret)
                job = client.post("/v1/jobs", json={"model": model.name, "input": jittered_inputs(1)[0]}).json()
                # The row appears through the page's own polling, then turns done + verified.
                page.wait_for_selector(f'#jobs tr[data-job="{job["id"]}"]', timeout=30_000)
                page.wait_for_selector(f'#jobs tr[data-job="{job["id"]}"][data-state="done"]', timeout=120_000)
                assert "verified" in page.inner_text(f'#jobs tr[data-job="{job["id"]}"]')

                # A published prediction, with its provenance walk.
                (epoch,) = market.push(1)
                spec = ReturnsSpec(model.spec.inputs[0].shape[1], model.spec.circuit.settings.input_scales[0], 100)
                body = {
                    "model": model.name,
                    "input": attested_input(market.conn, market.feed, epoch, spec).input_data(),
                    "publish": True,
                    "epoch": epoch,
                }
                published = client.post("/v1/jobs", json=body).json()
                page.wait_for_selector(f'#jobs tr[data-job="{published["id"]}"][data-state="done"]', timeout=120_000)
                page.wait_for_selector("#predictions tbody tr button", timeout=30_000)
                page.click("#predictions tbody tr button")
                page.wait_for_selector("#provenance li", timeout=60_000)
                assert "every link holds" in page.inner_text("#provenance")
                screenshot.parent.mkdir(parents=True, exist_ok=True)
                page.screenshot(path=str(screenshot), full_page=True)
                assert problems == []
            finally:
                browser.close()
    finally:
        service.stop()
    assert screenshot.stat().st_size > 10_000


def test_an_empty_predictions_table_says_what_to_configure(served: Any, tmp_path: Path) -> None:
    # A model served without --oracle: the table names the flags that would fill it.
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed (pip install 'zkml[dev]')")
    from tests.serve.conftest import make_service

    executable = chromium_path()
    assert served.binding is None
    service = make_service(served, tmp_path, run_workers=False).start()
    try:
        with LiveServer(service) as server, sync_api.sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=executable, headless=True, args=CHROMIUM_FLAGS)
            try:
                page = browser.new_page()
                page.goto(server.url + "/")
                page.wait_for_selector("#predictions tr.empty", timeout=30_000)
                hint = page.inner_text("#predictions")
                assert "no model here has an oracle" in hint and "--oracle ADDRESS" in hint and '"publish": true' in hint
            finally:
                browser.close()
    finally:
        service.stop()
