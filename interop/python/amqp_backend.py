"""The "RabbitMQ mapping" of docs/WIRE.md, for a Python worker and caller (pika).

Names, arguments, properties, headers and the order of confirms and acks are the ones
WIRE.md specifies; section names of WIRE.md are given in the comments. Every publish
waits for its publisher confirm (pika's confirm_delivery makes basic_publish block
until the broker's basic.ack), and a delivery is acked only after that.
"""

import time
import uuid
from dataclasses import dataclass

import pika

from envelope import Task, now_ms
from memory_results import MemoryResults

MAX_BUCKET_MS = 2**31


@dataclass
class AmqpDelivery:
    """One task handed to the worker and not yet settled."""

    queue: str
    body: bytes
    count: int  # the delivery count: dingo-deliveries + 1
    tag: int
    properties: pika.BasicProperties


def header_int(headers, name: str) -> int:
    """A dingo-* header: any AMQP integer or a decimal string; absent = 0."""
    value = (headers or {}).get(name)
    if value is None:
        return 0
    if isinstance(value, bytes):
        value = value.decode()
    return int(value)


def bucket_of(remaining_ms: int) -> int:
    """The largest power of two <= min(remaining, 2^31): the delay bucket ("Delays")."""
    return 1 << (min(remaining_ms, MAX_BUCKET_MS).bit_length() - 1)


class AmqpBackend:
    """Task broker and report router on RabbitMQ; results in this process unless given a store."""

    keep_alive_interval_s = 0.05  # pika answers heartbeats only while we process its events

    def __init__(self, url="amqp://guest:guest@127.0.0.1:5672", prefix="dingo", results=None,
                 inbox_ttl_ms=120_000, max_dead=10_000, dead_ttl_ms=604_800_000):
        self.prefix, self.inbox_ttl_ms, self.max_dead, self.dead_ttl_ms = prefix, inbox_ttl_ms, max_dead, dead_ttl_ms
        self.results = results or MemoryResults()
        self.connection = pika.BlockingConnection(pika.URLParameters(url))
        self.channel = self.connection.channel()  # declarations and every publish
        self.channel.confirm_delivery()
        self.declared: set[str] = set()
        self.taken: list[AmqpDelivery] = []
        self.broadcasts: list[bytes] = []
        self.inbox: str | None = None
        self.inbox_messages: list[bytes] = []

    # ---- topology ("Topology") ---------------------------------------------------------

    def _once(self, key: str, declare) -> None:
        if key not in self.declared:
            declare()
            self.declared.add(key)

    def task_queue(self, queue: str) -> str:
        name = f"{self.prefix}.task.{queue}"

        def declare():
            self.channel.exchange_declare(f"{self.prefix}.tasks", "direct", durable=True)
            self.channel.queue_declare(name, durable=True, arguments={"x-max-priority": 9})
            self.channel.queue_bind(name, f"{self.prefix}.tasks", routing_key=queue)

        self._once(f"task:{queue}", declare)
        return name

    def delay_bucket(self, ms: int) -> str:
        name = f"{self.prefix}.delay.{ms}"

        def declare():
            self.channel.exchange_declare(f"{self.prefix}.tasks", "direct", durable=True)
            self.channel.exchange_declare(name, "fanout", durable=True)
            arguments = {"x-message-ttl": ms, "x-dead-letter-exchange": f"{self.prefix}.tasks"}
            self.channel.queue_declare(name, durable=True, arguments=arguments)
            self.channel.queue_bind(name, name, routing_key="")

        self._once(f"delay:{ms}", declare)
        return name

    def dead_queue(self, queue: str) -> str:
        name = f"{self.prefix}.dead.{queue}"

        def declare():
            self.channel.exchange_declare(f"{self.prefix}.dead", "direct", durable=True)
            arguments = {"x-max-length": self.max_dead, "x-message-ttl": self.dead_ttl_ms}
            self.channel.queue_declare(name, durable=True, arguments=arguments)
            self.channel.queue_bind(name, f"{self.prefix}.dead", routing_key=queue)

        self._once(f"dead:{queue}", declare)
        return name

    # ---- publish ("Task messages", "Delays") --------------------------------------------

    def publish(self, body: bytes, queue: str, priority: int, not_before_ms: int, task_id: str = "") -> None:
        headers = {"dingo-not-before": not_before_ms} if not_before_ms > 0 else {}
        properties = pika.BasicProperties(
            delivery_mode=2, priority=min(9, max(0, priority)), message_id=task_id or None,
            content_type="application/x-protobuf", type="dingo.v1.Task", headers=headers,
        )
        self._publish_task(body, queue, properties, not_before_ms)

    def _publish_task(self, body: bytes, queue: str, properties, not_before_ms: int) -> None:
        self.task_queue(queue)  # a message routed nowhere is dropped: the queue must exist first
        remaining = not_before_ms - now_ms()
        if remaining < 1:
            exchange = f"{self.prefix}.tasks"
        else:
            exchange = self.delay_bucket(bucket_of(remaining))
        self.channel.basic_publish(exchange, queue, body, properties)

    # ---- consume ("Consuming (workers)") -------------------------------------------------

    def consume(self, queues: list[str], consumer: str) -> None:
        self.consumer_channel = self.connection.channel()
        self.consumer_channel.basic_qos(prefetch_count=1, global_qos=len(queues) > 1)
        for queue in queues:
            name = self.task_queue(queue)
            self.consumer_channel.basic_consume(
                name, lambda _ch, method, properties, body, queue=queue: self._on_task(queue, method, properties, body),
                auto_ack=False,
            )

    def _on_task(self, queue: str, method, properties, body: bytes) -> None:
        headers = properties.headers or {}
        before = header_int(headers, "dingo-deliveries")
        if method.redelivered:
            # 1. Redelivered: a copy with the count + 1 replaces it; the copy is delivered next.
            self._republish(queue, body, properties, exchange=f"{self.prefix}.tasks", deliveries=before + 1)
            self.consumer_channel.basic_ack(method.delivery_tag)
            return
        not_before = header_int(headers, "dingo-not-before")
        if not_before - now_ms() >= 1:
            # 2. Early: back into the bucket for what remains.
            bucket = self.delay_bucket(bucket_of(not_before - now_ms()))
            self._republish(queue, body, properties, exchange=bucket, deliveries=before)
            self.consumer_channel.basic_ack(method.delivery_tag)
            return
        # 3. A delivery with count dingo-deliveries + 1, for the worker algorithm.
        self.taken.append(AmqpDelivery(queue, body, before + 1, method.delivery_tag, properties))

    def _republish(self, queue: str, body: bytes, properties, exchange: str, deliveries: int) -> None:
        headers = dict(properties.headers or {})
        if deliveries > 0:
            headers["dingo-deliveries"] = deliveries
        else:
            headers.pop("dingo-deliveries", None)
        copy = pika.BasicProperties(
            delivery_mode=2, priority=properties.priority, message_id=properties.message_id,
            content_type=properties.content_type, type=properties.type, headers=headers,
        )
        self.task_queue(queue)
        self.channel.basic_publish(exchange, queue, body, copy)

    def next_delivery(self, max_wait_ms: int) -> AmqpDelivery | None:
        if not self.taken:
            self.connection.process_data_events(time_limit=max_wait_ms / 1000)
        return self.taken.pop(0) if self.taken else None

    def keep_alive(self, delivery: AmqpDelivery) -> bool:
        self.connection.process_data_events(time_limit=0)
        return True

    # ---- settlements (the table in "Consuming (workers)") ---------------------------------

    def ack(self, delivery: AmqpDelivery) -> None:
        self.consumer_channel.basic_ack(delivery.tag)

    def retry(self, delivery: AmqpDelivery, next_task: Task) -> None:
        self.publish(next_task.SerializeToString(), next_task.queue or delivery.queue, next_task.priority,
                     next_task.not_before_ms, next_task.id)
        self.ack(delivery)

    def release(self, delivery: AmqpDelivery) -> None:
        self._republish(delivery.queue, delivery.body, delivery.properties, f"{self.prefix}.tasks", delivery.count)
        self.ack(delivery)

    def unread(self, delivery: AmqpDelivery) -> None:
        """Gives back a delivery no handler saw (the worker is stopping), without counting it."""
        self._republish(delivery.queue, delivery.body, delivery.properties, f"{self.prefix}.tasks", delivery.count - 1)
        self.ack(delivery)

    def dead_letter(self, delivery: AmqpDelivery, reason: str) -> None:
        self.dead_queue(delivery.queue)
        headers = {"dingo-reason": reason, "dingo-dead-at": now_ms(), "dingo-queue": delivery.queue,
                   "dingo-deliveries": delivery.count}
        properties = pika.BasicProperties(delivery_mode=2, headers=headers, priority=delivery.properties.priority)
        self.channel.basic_publish(f"{self.prefix}.dead", delivery.queue, delivery.body, properties)
        self.ack(delivery)

    # ---- reports ("Reports (workers → callers)", "Cancellation broadcast") -----------------

    def send(self, address: str, report: bytes) -> None:
        properties = pika.BasicProperties(delivery_mode=1, type="dingo.v1.Report")
        self.channel.basic_publish("", address, report, properties)

    def open_inbox(self) -> str:
        self.inbox = f"{self.prefix}.inbox.{uuid.uuid4()}"
        self.inbox_channel = self.connection.channel()
        self.inbox_channel.queue_declare(self.inbox, durable=True, arguments={"x-expires": self.inbox_ttl_ms})

        def on_report(channel, method, _properties, body):
            self.inbox_messages.append(body)
            channel.basic_ack(method.delivery_tag)

        self.inbox_channel.basic_consume(self.inbox, on_report, auto_ack=False)
        return self.inbox

    def read_inbox(self, timeout_s: float) -> list[bytes]:
        deadline = time.monotonic() + timeout_s
        while not self.inbox_messages and time.monotonic() < deadline:
            self.connection.process_data_events(time_limit=max(0.0, deadline - time.monotonic()))
        out, self.inbox_messages = self.inbox_messages, []
        return out

    def close_inbox(self) -> None:
        if self.inbox is not None:
            self.inbox_channel.queue_delete(self.inbox)
            self.inbox = None

    def broadcast(self, report: bytes) -> None:
        self.channel.exchange_declare(f"{self.prefix}.broadcast", "fanout", durable=True)
        self.channel.basic_publish(f"{self.prefix}.broadcast", "", report, pika.BasicProperties(delivery_mode=1))

    def subscribe(self) -> None:
        channel = self.connection.channel()
        channel.exchange_declare(f"{self.prefix}.broadcast", "fanout", durable=True)
        name = channel.queue_declare("", exclusive=True, auto_delete=True).method.queue
        channel.queue_bind(name, f"{self.prefix}.broadcast")
        channel.basic_consume(name, lambda _c, _m, _p, body: self.broadcasts.append(body), auto_ack=True)

    def poll_broadcasts(self) -> list[bytes]:
        self.connection.process_data_events(time_limit=0)
        out, self.broadcasts = self.broadcasts, []
        return out

    # ---- result store ("Result store": not on RabbitMQ; here or in Redis) ----------------

    def claim(self, key: str, address: str, ttl_ms: int):
        return self.results.claim(key, address, ttl_ms)

    def settle(self, key: str, report: bytes, ttl_ms: int):
        return self.results.settle(key, report, ttl_ms)

    def lookup(self, key: str):
        return self.results.lookup(key)

    def close(self) -> None:
        try:
            self.close_inbox()
        finally:
            self.connection.close()
