"""The messages of a rosbag2 (MCAP or sqlite3) in recording order, as raw CDR, via `rosbags`:
no ROS needed to read, and rclpy deserializes the same bytes on the way out. A damaged bag yields
what it can and says where it stopped."""

from __future__ import annotations

import importlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pose_reloc.datasets.rosbag import IMAGE_TYPES
from pose_reloc.errors import PoseRelocError


class ReplayError(PoseRelocError):
    """A bag, topic or calibration the replay cannot use; the message names it and the fix."""


@dataclass(frozen=True)
class BagMessage:
    topic: str
    msgtype: str  # e.g. sensor_msgs/msg/CompressedImage
    log_time_ns: int
    raw: bytes  # CDR, as rclpy.serialization.deserialize_message reads it


class BagStream:
    """Opens the bag and checks the topics the replay needs before a single message is read."""

    def __init__(self, path: str | Path, image_topic: str | None, camera_info_topic: str | None):
        from rosbags.highlevel import AnyReader

        self.path = Path(path)
        if not self.path.exists():
            raise ReplayError(f"bag {self.path} does not exist")
        self.error: str | None = None  # set when reading stopped early
        self.reader: Any = AnyReader([self.path])
        self.salvaged: list[BagMessage] | None = None  # a damaged MCAP, read up to the damage
        try:
            self.reader.open()
            self.topics: dict[str, str] = {c.topic: c.msgtype for c in self.reader.connections}
        except Exception as error:  # rosbags raises many types for damaged bags
            mcaps = sorted(self.path.glob("*.mcap")) if self.path.is_dir() else [self.path]
            if len(mcaps) != 1 or mcaps[0].suffix != ".mcap":
                raise ReplayError(
                    f"bag {self.path} cannot be opened ({type(error).__name__}: {error}); a bag "
                    "cut short while recording may need `ros2 bag reindex` first"
                ) from error
            self.reader = None
            self.salvaged, self.topics, self.error = salvage_mcap(mcaps[0], error)
        self._check(image_topic, camera_info_topic)
        self.image_topic, self.camera_info_topic = image_topic, camera_info_topic

    def _check(self, image_topic: str | None, camera_info_topic: str | None) -> None:
        listing = ", ".join(f"{t} ({m})" for t, m in sorted(self.topics.items()))
        if image_topic is None:  # a plain player: every topic, none required
            return
        if image_topic not in self.topics:
            raise ReplayError(
                f"bag {self.path} has no topic {image_topic}: choose one with --image-topic; "
                f"its topics: {listing}"
            )
        if self.topics[image_topic] not in IMAGE_TYPES:
            raise ReplayError(
                f"{image_topic} in {self.path} is {self.topics[image_topic]}, not "
                "sensor_msgs/msg/Image or CompressedImage"
            )
        if camera_info_topic is not None and camera_info_topic not in self.topics:
            raise ReplayError(
                f"bag {self.path} has no camera_info topic {camera_info_topic}: name it with "
                "--camera-info-topic or give the calibration with --camera-info FILE.yaml"
            )

    @property
    def compressed(self) -> bool:
        if self.image_topic is None:
            return False
        return self.topics[self.image_topic] == "sensor_msgs/msg/CompressedImage"

    @property
    def duration_s(self) -> float:
        if self.salvaged is not None:
            stamps = [m.log_time_ns for m in self.salvaged]
            return (max(stamps) - min(stamps)) * 1e-9 if stamps else 0.0
        return float(self.reader.duration) * 1e-9

    def count(self, topic: str) -> int:
        if self.salvaged is not None:
            return sum(m.topic == topic for m in self.salvaged)
        return sum(c.msgcount for c in self.reader.connections if c.topic == topic)

    def messages(self, topics: Sequence[str]) -> Iterator[BagMessage]:
        """The wanted topics' messages in log-time order; on damage, stop and set `error`."""
        wanted = set(topics)
        if self.salvaged is not None:
            yield from (m for m in self.salvaged if m.topic in wanted)
            return
        connections = [c for c in self.reader.connections if c.topic in wanted]
        try:
            for connection, log_time_ns, raw in self.reader.messages(connections=connections):
                yield BagMessage(connection.topic, connection.msgtype, log_time_ns, bytes(raw))
        except Exception as error:  # truncated chunk, bad compression, short read
            self.error = (
                f"bag {self.path} is damaged, reading stopped: {type(error).__name__}: {error}"
            )

    def close(self) -> None:
        if self.reader is not None:
            self.reader.close()

    def __enter__(self) -> BagStream:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()


def message_class(msgtype: str) -> type:
    """sensor_msgs/msg/Image -> the rclpy class (ReplayError when that package is not built)."""
    package, _, name = msgtype.split("/")
    try:
        cls: type = getattr(importlib.import_module(f"{package}.msg"), name)
        return cls
    except (ImportError, AttributeError) as error:
        raise ReplayError(f"message type {msgtype} is not available to rclpy here") from error


def salvage_mcap(path: Path, cause: Exception) -> tuple[list[BagMessage], dict[str, str], str]:
    """Read a damaged MCAP (no footer: recording killed; cut mid-message) record by record up to
    the damage: (messages in log-time order, topic -> type, what happened)."""
    from mcap.records import Channel, Message, Schema
    from mcap.stream_reader import StreamReader

    schemas: dict[int, str] = {}
    channels: dict[int, tuple[str, int]] = {}
    messages: list[BagMessage] = []
    stopped = "at its end"
    with path.open("rb") as stream:
        try:
            for record in StreamReader(stream, emit_chunks=False).records:
                if isinstance(record, Schema):
                    schemas[record.id] = record.name
                elif isinstance(record, Channel):
                    channels[record.id] = (record.topic, record.schema_id)
                elif isinstance(record, Message) and record.channel_id in channels:
                    topic, schema_id = channels[record.channel_id]
                    messages.append(
                        BagMessage(topic, schemas.get(schema_id, ""), record.log_time, record.data)
                    )
        except Exception as error:  # truncated record or chunk: keep what came before
            stopped = f"where it is cut ({type(error).__name__})"
    if not messages:
        raise ReplayError(f"bag {path} cannot be read ({type(cause).__name__}: {cause})")
    messages.sort(key=lambda m: m.log_time_ns)
    topics = {m.topic: m.msgtype for m in messages}
    note = f"bag {path} is damaged ({cause}): read {len(messages)} messages, stopping {stopped}"
    return messages, topics, note
