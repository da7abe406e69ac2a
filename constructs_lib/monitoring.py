"""The comparison dashboard: Proxy and No Proxy side by side on one screen, one-minute periods.

As the blog's dashboard: the readers' graphs draw one line per cluster (the reader role's aggregate,
``DBClusterIdentifier`` with ``Role=READER``), Proxy against No Proxy; per-instance CPU and connections
follow as detail. No widget for the result set (query) cache: MySQL 8.0 removed the query cache, and
Aurora MySQL version 3 is MySQL 8.0-compatible, so ResultSetCacheHitRatio has nothing to report
(https://docs.aws.amazon.com/AmazonRDS/latest/AuroraUserGuide/AuroraMySQL.Compare-v2-v3.html).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass

from constructs import Construct

from constructs_lib.aws import CloudwatchDashboard
from constructs_lib.platform import AwsStack

PERIOD_SECONDS = 60
WIDTH, HEIGHT = 12, 6
# (title, metric, statistic): one line per side, the blog's comparison view.
READER_COMPARISON = (
    ("CPU %", "CPUUtilization", "Average"),
    ("DB connections", "DatabaseConnections", "Average"),
    ("queries / s", "Queries", "Average"),
    ("select latency (ms)", "SelectLatency", "Average"),
    ("select throughput / s", "SelectThroughput", "Average"),
    ("network throughput (bytes / s)", "NetworkThroughput", "Average"),
    ("network receive throughput (bytes / s)", "NetworkReceiveThroughput", "Average"),
)
# One line per reader instance: where a side's load lands.
READER_DETAIL = (
    ("CPU %", "CPUUtilization", "Average"),
    ("DB connections", "DatabaseConnections", "Average"),
)


@dataclass(frozen=True)
class SideMetrics:
    """The names a side's metrics are published under."""

    label: str
    api_stage: str
    function_name: str
    cluster_id: str
    reader_instance_ids: Sequence[str]
    proxy_names: Sequence[str] = ()


@dataclass(frozen=True)
class MonitoringProps:
    name: str
    api_name: str
    sides: Sequence[SideMetrics]


class Monitoring(Construct):
    def __init__(self, scope: Construct, id: str, props: MonitoringProps) -> None:
        super().__init__(scope, id)
        self.region = AwsStack.of(self).region
        widgets = [
            self._widget(
                "API 5XX errors by stage",
                "Sum",
                [
                    [
                        "AWS/ApiGateway",
                        "5XXError",
                        "ApiName",
                        props.api_name,
                        "Stage",
                        side.api_stage,
                        {"label": side.label},
                    ]
                    for side in props.sides
                ],
            ),
            *[
                self._widget(
                    f"Lambda {metric.lower()}",
                    stat,
                    [
                        ["AWS/Lambda", metric, "FunctionName", side.function_name, {"label": side.label}]
                        for side in props.sides
                    ],
                )
                for metric, stat in (
                    ("Invocations", "Sum"),
                    ("ConcurrentExecutions", "Maximum"),
                    ("Throttles", "Sum"),
                    ("Duration", "p90"),
                )
            ],
            *[
                self._widget(
                    f"Readers: {title}",
                    stat,
                    [
                        [
                            "AWS/RDS",
                            metric,
                            "DBClusterIdentifier",
                            side.cluster_id,
                            "Role",
                            "READER",
                            {"label": side.label},
                        ]
                        for side in props.sides
                    ],
                )
                for title, metric, stat in READER_COMPARISON
            ],
            *[
                self._widget(
                    f"Each reader: {title}",
                    stat,
                    [
                        ["AWS/RDS", metric, "DBInstanceIdentifier", instance, {"label": f"{side.label} {instance}"}]
                        for side in props.sides
                        for instance in side.reader_instance_ids
                    ],
                )
                for title, metric, stat in READER_DETAIL
            ],
            *[
                self._widget(
                    f"RDS Proxy: {title}",
                    "Sum",
                    [
                        ["AWS/RDS", metric, "ProxyName", proxy, {"label": proxy}]
                        for side in props.sides
                        for proxy in side.proxy_names
                        for metric in metrics
                    ],
                )
                for title, metrics in (
                    ("client connections", ("ClientConnectionsReceived", "ClientConnectionsSetupSucceeded")),
                    (
                        "database connections",
                        ("DatabaseConnections", "DatabaseConnectionRequests", "MaxDatabaseConnectionsAllowed"),
                    ),
                )
            ],
        ]
        for index, widget in enumerate(widgets):
            widget.update(x=(index % 2) * WIDTH, y=(index // 2) * HEIGHT, width=WIDTH, height=HEIGHT)
        self.dashboard = CloudwatchDashboard(
            self, "dashboard", dashboard_name=props.name, dashboard_body=json.dumps({"widgets": widgets})
        )

    def _widget(self, title: str, stat: str, metrics: list[list[object]]) -> dict[str, object]:
        return {
            "type": "metric",
            "properties": {
                "title": title,
                "region": self.region,
                "stat": stat,
                "period": PERIOD_SECONDS,
                "view": "timeSeries",
                "metrics": metrics,
            },
        }
