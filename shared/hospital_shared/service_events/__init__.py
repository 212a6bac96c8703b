"""Lifecycle events the services publish on their own topics, one module per publishing
service. They live in `shared` because other services consume them: this is the contract
between services. Importing this package registers every type in `EVENT_TYPES`."""

from hospital_shared.service_events import (  # noqa: F401
    complaints,
    enquiries,
    followup,
    metrics,
    notifications,
    registration,
    surveys,
)
