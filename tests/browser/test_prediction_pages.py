"""The predictions on the monitoring pages in headless Chromium: the dashboard's forecast chart with its band and
back-tested error, the capacity advice and the orders at risk; the heatmap's at-risk orders. On a server whose
database holds two weeks of simulated history and a few orders under way (no workers run, so they stay)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from app.features import build_engine
from app.migrations import upgrade
from app.simulate_history import write_history
from processes.core.db import make_engine, make_session_factory
from tests.support.browser import log_in
from tests.support.server import Server, start_server, stop


@pytest.fixture(scope="module")
def site(sandbox_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    data_dir = tmp_path_factory.mktemp("prediction-pages")
    sql_engine = make_engine(f"sqlite:///{data_dir / 'orderflow.db'}")
    upgrade(sql_engine)
    write_history(build_engine(make_session_factory(sql_engine)), weeks=2.2, orders_per_hour=20, running=6)
    sql_engine.dispose()
    server = start_server(data_dir, sandbox_url, ORDERFLOW_DEMO_USERS="true", ORDERFLOW_EMBEDDED_WORKERS="false",
                          ORDERFLOW_SLA='{"order_fulfillment": "PT2H"}')  # fmt: skip
    try:
        yield server
    finally:
        stop(server.proc)


def test_the_dashboard_shows_the_forecast_band_its_error_capacity_and_orders_at_risk(site: Server, page):
    log_in(page, site, "olga", start="/monitoring")
    band = page.wait_for_selector("[data-testid=forecast-band]")
    assert len(band.get_attribute("points").split()) >= 2 * 168  # the top and the bottom of a week of hours
    chart = page.locator("[data-testid=forecast-chart]").bounding_box()
    assert chart["width"] > 300 and chart["height"] > 50  # drawn, not an empty box
    error = page.inner_text("[data-testid=forecast-error]")
    assert "WAPE" in error and "%" in error and "daily origins" in error
    assert "wms.ship" in page.inner_text("[data-testid=capacity]")
    at_risk = page.locator("[data-testid=orders-at-risk]")
    assert "orders under way" in at_risk.inner_text()
    assert at_risk.locator("tbody tr, tr").count() >= 2  # the header and at least one order

    # The heatmap says where the orders at risk wait: at their first service tasks.
    page.goto(f"{site.url}/monitoring/processes/order_fulfillment")
    page.wait_for_selector("#heatmap[data-ready=true]")
    assert "Reserve inventory" in page.inner_text("[data-testid=at-risk-elements]")
    assert page.locator(".heat-at-risk[data-element=Task_ReserveInventory]").count() == 1
