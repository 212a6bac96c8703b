"""Staff channels besides SMS: email over SMTP and group-robot webhooks (WeCom, DingTalk).

Each sender answers a hand-over with the same four outcomes as the SMS providers
(`providers.base.Outcome`): ACCEPTED, RETRY (certainly not taken), REJECTED, UNKNOWN."""

from notifications.channels.base import RobotTarget, StaffNote, StaffSender
from notifications.channels.smtp import SmtpSender
from notifications.channels.webhook import RobotWebhookSender

__all__ = ["RobotTarget", "RobotWebhookSender", "SmtpSender", "StaffNote", "StaffSender"]
