"""What a staff channel is handed, and the interface every staff sender implements."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from notifications.providers.base import SendResult


@dataclass(frozen=True, slots=True)
class RobotTarget:
    """A WeCom / DingTalk group robot (`staff_webhooks` row)."""

    flavour: str  # wecom | dingtalk
    url: str
    msgtype: str = "text"  # text | markdown
    secret: str | None = None  # DingTalk 加签
    mention_mobiles: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class StaffNote:
    message_id: str
    subject: str
    text: str
    email: str | None = None
    robot: RobotTarget | None = None


class StaffSender(Protocol):
    name: str

    async def send(self, note: StaffNote) -> SendResult: ...

    async def aclose(self) -> None: ...
