"""Alert the moment an application's balance runs low: an ``AssetWatcher`` starts this DAG, no schedule.

The triggerer runs ``ApplicationLowBalanceTrigger`` while this DAG is unpaused: it reads the balance every
``poke_interval`` seconds and announces each time it *crosses* below the threshold, once; a balance that
stays low announces nothing more until a top-up lifts it back to the threshold. Each announcement is an
asset event that starts one run of this DAG, which logs the alert. Add the notifier you use to the task
(``on_success_callback=[SlackNotifier(...)]`` and the like) to be paged instead.

Which application and threshold: the environment variables ``ACEDATA_ALERT_APPLICATION_ID`` and
``ACEDATA_ALERT_BELOW`` (Credits) where the DAG is parsed, since a watcher's arguments are fixed when the
DAG file is parsed (they identify the watcher). The ``acedata_default`` connection is read in the triggerer.
"""

from __future__ import annotations

import logging
import os
from datetime import datetime
from typing import Any

from airflow.sdk import Asset, AssetWatcher, dag, task

from airflow_provider_acedata.triggers import ApplicationLowBalanceTrigger

APPLICATION_ID = os.environ.get("ACEDATA_ALERT_APPLICATION_ID", "00000000-0000-4000-8000-000000000000")
BELOW = float(os.environ.get("ACEDATA_ALERT_BELOW", "100"))

LOW_BALANCE = Asset(
    "acedata_low_balance",
    watchers=[
        AssetWatcher(
            name="acedata_low_balance_watcher",
            trigger=ApplicationLowBalanceTrigger(
                application_id=APPLICATION_ID, min_remaining_amount=BELOW, poke_interval=300
            ),
        )
    ],
)

# Named after the DAG: in a DAG file, __name__ is a generated "unusual_prefix_..." module name.
log = logging.getLogger("example_acedata_low_balance_alert")


@dag(schedule=[LOW_BALANCE], start_date=datetime(2026, 1, 1), catchup=False, tags=["acedata", "example"])
def example_acedata_low_balance_alert() -> None:
    @task
    def alert(*, triggering_asset_events: Any = None) -> list[dict[str, Any]]:
        """Log each announcement that started this run; return them (XCom) for downstream tasks."""
        lows = [event.extra.get("payload", {}) for event in _events(triggering_asset_events, LOW_BALANCE)]
        for low in lows:
            log.warning(
                "Application %s has %s Credits, below %s (read at %s): top it up",
                low.get("application_id"),
                low.get("remaining_amount"),
                low.get("min_remaining_amount"),
                low.get("observed_at"),
            )
        return lows

    alert()


def _events(triggering_asset_events: Any, asset: Asset) -> list[Any]:
    """The asset events of ``asset`` that started this run (none for a manual run)."""
    try:
        return list(triggering_asset_events[asset]) if triggering_asset_events else []
    except KeyError:
        return []


example_acedata_low_balance_alert()
