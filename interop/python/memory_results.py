"""A result store in this process's memory: what a RabbitMQ-only deployment has.

Same rules as WIRE.md "Result store" (claim with watchers, first writer wins, retention),
visible only to this process.
"""

import time


class MemoryResults:
    def __init__(self, default_ttl_ms: int = 600_000):
        self.default_ttl_ms = default_ttl_ms
        self.records: dict[str, dict] = {}  # key -> {"report"?, "watchers", "expires"}

    def _live(self, key: str) -> dict | None:
        record = self.records.get(key)
        if record is not None and record["expires"] <= time.monotonic():
            del self.records[key]
            return None
        return record

    def claim(self, key: str, address: str, ttl_ms: int):
        record = self._live(key)
        if record is not None and "report" in record:
            return "settled", record["report"]
        if record is not None:
            if address:
                record["watchers"].add(address)
            return "pending", None
        ttl = max(ttl_ms, self.default_ttl_ms)
        self.records[key] = {"watchers": set(), "expires": time.monotonic() + ttl / 1000}
        return "claimed", None

    def settle(self, key: str, report: bytes, ttl_ms: int) -> tuple[bool, list[str]]:
        record = self._live(key)
        if record is not None and "report" in record:
            return record["report"] == report, sorted(record["watchers"])
        watchers = sorted(record["watchers"]) if record is not None else []
        ttl = ttl_ms or self.default_ttl_ms
        self.records[key] = {"report": report, "watchers": set(watchers), "expires": time.monotonic() + ttl / 1000}
        return True, watchers

    def lookup(self, key: str) -> bytes | None:
        record = self._live(key)
        return record.get("report") if record is not None else None
