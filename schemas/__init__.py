"""The messages of breachwire: what subprocessors post and what travels on every topic.

Every model carries a ``schema`` field naming its kind and version; ``schemas.export`` writes their JSON
Schemas under ``schemas/json/``. This package imports nothing else of the project.
"""

from schemas.common import (
    LEGAL_AUDIENCES,
    NOTICE_AUDIENCE_FOR,
    NOTICE_AUDIENCES,
    Audience,
    Channel,
    LegalAudience,
    NoticeAudience,
    NoticeKind,
    Release,
    ReportStatus,
    Source,
)
from schemas.ids import incident_id, notice_id
from schemas.messages import (
    Deadline,
    IncidentAssessed,
    IncidentFacts,
    IncidentReported,
    InvalidMessage,
    NoticeDead,
    NoticeRequested,
    NoticeRetry,
    NoticeSent,
)
from schemas.report import Contact, Report

__all__ = [
    "LEGAL_AUDIENCES",
    "NOTICE_AUDIENCES",
    "NOTICE_AUDIENCE_FOR",
    "Audience",
    "Channel",
    "Contact",
    "Deadline",
    "IncidentAssessed",
    "IncidentFacts",
    "IncidentReported",
    "InvalidMessage",
    "LegalAudience",
    "NoticeAudience",
    "NoticeDead",
    "NoticeKind",
    "NoticeRequested",
    "NoticeRetry",
    "NoticeSent",
    "Release",
    "Report",
    "ReportStatus",
    "Source",
    "incident_id",
    "notice_id",
]
