"""Settings of the registration service: shared variables plus `REGISTRATION_*` ones."""

from __future__ import annotations

import ipaddress
from typing import Literal

from pydantic import Field

from hospital_shared.settings import service_settings_class
from registration.retention import Retention

_Base = service_settings_class("registration", 8001)


class Settings(_Base):  # type: ignore[misc,valid-type]
    # --- HL7 v2 over MLLP ------------------------------------------------------------
    mllp_enabled: bool = True
    mllp_host: str = "127.0.0.1"
    mllp_port: int = 2575
    # Deny by default: a deployment names its interface engines; the dev stack, the loopback.
    mllp_allowed_sources: str = Field(
        "",
        description="comma-separated addresses or networks that may connect to MLLP; "
        "empty refuses every connection",
    )
    mllp_max_connections_per_source: int = Field(
        8, ge=1, description="MLLP connections one source address may hold at once"
    )
    mllp_tls_cert: str | None = Field(
        None, description="certificate (PEM) for MLLP over TLS; unset: plain TCP"
    )
    mllp_tls_key: str | None = Field(None, description="its key (PEM), if not in the cert file")
    mllp_tls_client_ca: str | None = Field(
        None, description="CA (PEM) whose client certificates are required; unset: none asked"
    )
    # ADT and SIU messages are a few KB, an A08 with a long stay's NK1/DG1/AL1/OBX some tens
    # of KB: 256 KiB is ample and bounds what one message costs to read (about 0.5 s of CPU
    # idle, in the parse pool).
    mllp_max_message_bytes: int = Field(
        262_144, ge=1024, description="larger frames get AR and their connection is closed"
    )
    mllp_idle_timeout_s: float = Field(300.0, description="MLLP silence allowed between messages")
    mllp_read_timeout_s: float = Field(
        30.0, gt=0, description="time to send one message once begun, or to read its ACK"
    )
    # Messages a sender pipelines on one connection (sent before their ACKs are read) are
    # stored with one commit, up to this many; each still gets its own ACK, AA only after it.
    mllp_max_group: int = 50
    # Structure limits, checked before parsing (registration/hl7_limits.py): parsing cost
    # follows the number of parts, not the bytes.
    hl7_max_segments: int = Field(1000, ge=1, description="more segments: AR")
    hl7_max_fields: int = Field(256, ge=1, description="more fields in one segment: AR")
    hl7_max_repetitions: int = Field(100, ge=1, description="more repetitions of a field: AR")
    # Where messages are read (registration/parse_pool.py). A typical ADT of 1-3 KB reads in
    # about 0.5 ms, on the event loop; the worst 4 KiB within the limits, ~30 ms loaded.
    hl7_parse_inline_bytes: int = Field(
        4096, ge=0, description="HL7 messages up to this size are read on the event loop"
    )
    hl7_parse_workers: int = Field(
        2, ge=1, description="worker processes reading larger HL7 messages"
    )
    hl7_parse_pool: Literal["process", "thread"] = Field(
        "process", description="thread: workers share the event loop's GIL (slower /healthz)"
    )
    # MSH-18 empty: the HL7 default is ASCII; Chinese HIS often send UTF-8 or GB18030 anyway.
    hl7_default_charset: str = "utf-8"
    hl7_receiving_application: str = "HOSPITAL-OPS"
    hl7_receiving_facility: str = "REGISTRATION"
    # What HL7 rarely says explicitly: how to read PV1-4 / SCH-8 as a visit type, the
    # default visit type, and the channel each message kind stands for.
    hl7_first_visit_codes: str = "F,FIRST,NEW,初诊"
    hl7_return_visit_codes: str = "R,RETURN,FU,复诊"
    hl7_default_visit_type: str = "first"
    hl7_adt_channel: str = "onsite"
    hl7_siu_channel: str = "online"
    hl7_known_departments: str = Field(
        "",
        description="department codes (PV1-3.1) an ADT^A02 transfer may name, comma-separated;"
        " another is answered AE. Empty: any code is taken",
    )

    # --- outbox ----------------------------------------------------------------------
    # Rows per relay pass. Each pass has a fixed cost (transaction, lock, Kafka's ack): with
    # the shared 500, a burst of batches left the relay behind the writers (8,749 events/s
    # accepted, 5,962/s published); with 2,000 it keeps up (8,330 of 8,737/s). The consuming
    # services keep 500: there a bigger pass took CPU from the consumer (notifications
    # drained 4,658/s instead of 5,949/s).
    outbox_batch_size: int = 2000

    # --- REST ------------------------------------------------------------------------
    max_batch_events: int = 1000
    # A batch of 1,000 ordinary events is about 0.5 MB; 4 MiB leaves room for long complaint
    # texts. A bigger batch gets 413 (split it).
    http_max_body_bytes: int = Field(
        4 * 1024 * 1024,
        ge=1024,
        description="the largest request body (bytes) the HTTP API reads; bigger ones get 413",
    )
    event_source: str = "urn:hospital:registration"

    # --- phones ----------------------------------------------------------------------
    default_phone_region: str = "CN"
    mobile_only: bool = True  # SMS reaches mobiles only: a landline is kept but flagged

    # --- retention (see registration/retention.py) -------------------------------------
    visit_retention_days: int = Field(
        90,
        ge=1,
        description="closed visits and outpatient registrations untouched this long are deleted",
    )
    held_expiry_days: int = Field(
        14, ge=1, description="a held cancellation or no-show whose visit never arrived is given up"
    )
    dedup_window_days: int = Field(
        30, ge=1, description="a repeated event id or HL7 control id is recognised this long"
    )
    retention_interval_s: float = Field(3600.0, gt=0, description="how often retention runs")
    retention_batch_size: int = 5000

    def retention(self) -> Retention:
        return Retention(
            visit_days=self.visit_retention_days,
            held_expiry_days=self.held_expiry_days,
            dedup_window_days=self.dedup_window_days,
            batch_size=self.retention_batch_size,
        )

    def allowed_networks(self) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
        return [
            ipaddress.ip_network(part.strip(), strict=False)
            for part in self.mllp_allowed_sources.split(",")
            if part.strip()
        ]
