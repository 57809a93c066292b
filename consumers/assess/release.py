"""The release policy as data: which notices go out on their own, and which wait for a person.

``rules/release.toml`` (``settings.release_policy``) has one table per source and report status, e.g.
``[subprocessor.suspected]``, naming a mode per audience:

``auto``
    requested and sent at once;
``held``
    requested, and held by the notifier until an on-call responder releases it (``incident release``);
``approve``
    requested, and held until an approver approves it (authority reports: always, the loader refuses else);
``oncall``
    no notice to that audience: the report reaches on-call only (one alert per report), and a responder
    decides by confirming or declaring, which is a new report under the ``oncall`` source's policy.

Every source x status table is required, so the file reads as the whole policy and nothing falls back silently.
:func:`load_release_policy` raises :class:`~consumers.assess.rules.RulesError` naming the file and the field.
"""

from pathlib import Path
from typing import Any, Literal, get_args

from pydantic import BaseModel, ConfigDict, ValidationError, field_validator

from consumers.assess.rules import RulesError, describe, read_toml
from schemas import Audience, NoticeAudience, Release, ReportStatus, Source

__all__ = ["Mode", "Modes", "ReleasePolicy", "SourcePolicy", "load_release_policy"]

Mode = Literal["auto", "held", "approve", "oncall"]

AUTHORITY_ONLY_APPROVE = "authority reports are always 'approve': a person approves every report to a regulator"


class _Model(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid", frozen=True)


class Modes(_Model):
    """How one source's reports of one status reach each audience."""

    controller: Mode
    customer: Mode
    authority: Literal["approve"] = "approve"

    @field_validator("authority", mode="before")
    @classmethod
    def _always_approve(cls, value: Any) -> Any:
        if value != "approve":
            raise ValueError(AUTHORITY_ONLY_APPROVE)
        return value

    def release(self, audience: NoticeAudience) -> Release | None:
        """The notices' release mode, or None when the audience gets no notice (on-call is alerted instead)."""
        if audience is Audience.ONCALL:
            return Release.AUTO  # on-call's own alerts are never held: they are how a hold gets noticed
        mode: Mode = getattr(self, audience.value)
        return None if mode == "oncall" else Release(mode)

    @property
    def oncall_only(self) -> list[Audience]:
        """The audiences that get no notice: on-call is told instead."""
        return [a for a in (Audience.CONTROLLER, Audience.CUSTOMER) if getattr(self, a.value) == "oncall"]


class SourcePolicy(_Model):
    suspected: Modes
    confirmed: Modes
    update: Modes
    resolved: Modes
    dismissed: Modes


class ReleasePolicy(_Model):
    subprocessor: SourcePolicy
    monitor: SourcePolicy
    oncall: SourcePolicy

    def modes(self, source: Source, status: ReportStatus) -> Modes:
        by_status: SourcePolicy = getattr(self, source.value)
        modes: Modes = getattr(by_status, status.value)
        return modes

    def decide(self, source: Source, status: ReportStatus, audience: NoticeAudience) -> Release | None:
        """The release mode of a notice to ``audience`` about a report of ``status`` from ``source`` (None: no
        notice, on-call is alerted instead)."""
        return self.modes(source, status).release(audience)


def load_release_policy(path: Path) -> ReleasePolicy:
    """Read the release policy; any problem raises :class:`RulesError` naming the file and the field."""
    data = read_toml(path)
    try:
        return ReleasePolicy.model_validate(data)
    except ValidationError as exc:
        raise RulesError(describe(path, exc)) from None


# The tables must name every source and status, and the modes every release mode (checked at import).
if set(ReleasePolicy.model_fields) != {s.value for s in Source} or set(SourcePolicy.model_fields) != {
    s.value for s in ReportStatus
}:  # pragma: no cover
    raise RuntimeError("the release policy's tables are out of step with schemas.Source / ReportStatus")
if set(get_args(Mode)) - {"oncall"} != {r.value for r in Release}:  # pragma: no cover
    raise RuntimeError("the release policy's modes are out of step with schemas.Release")
