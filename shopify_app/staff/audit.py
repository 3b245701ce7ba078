"""The audit log: who did what, to what, when and why."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from shopify_app.models import AuditLog, StaffUser


def record(
    session: Session,
    staff: StaffUser,
    action: str,
    target_type: str,
    target_id: object,
    reason: str,
    shop_domain: str | None = None,
    details: dict[str, Any] | None = None,
) -> AuditLog:
    """Add an audit row in the caller's transaction: it commits with the action or not at all."""
    row = AuditLog(
        staff_user_id=staff.id,
        staff_email=staff.email,
        action=action,
        target_type=target_type,
        target_id=str(target_id)[:64],
        shop_domain=shop_domain,
        reason=reason,
        details=details or {},
    )
    session.add(row)
    session.flush()
    return row
