"""Credits: charges, refunds and grants on the append-only ledger.

The ledger's unique (job_id, kind) is what makes "charged once, refunded at most once" true under
retries and races: a second refund for a job is an IntegrityError inside a savepoint, treated as
"already refunded". A charge locks the shop row so two concurrent charges cannot both spend the
last credits.
"""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from shopify_app.models import CreditLedger, GenerationJob, LedgerKind, Shop


class InsufficientCredits(Exception):
    """The balance does not cover the charge (the API answers 402)."""

    def __init__(self, needed: int, balance: int):
        super().__init__(f"this needs {needed} credits and the balance is {balance}")
        self.needed = needed
        self.balance = balance


def balance(session: Session, shop_id: str) -> int:
    total = session.scalar(
        select(func.coalesce(func.sum(CreditLedger.amount), 0)).where(CreditLedger.shop_id == shop_id)
    )
    return int(total or 0)


def grant(
    session: Session,
    shop_id: str,
    amount: int,
    reason: str,
    kind: LedgerKind = LedgerKind.GRANT,
    staff_user_id: int | None = None,
    reference: str | None = None,
) -> CreditLedger:
    if kind not in (LedgerKind.GRANT, LedgerKind.PURCHASE, LedgerKind.ADJUSTMENT):
        raise ValueError(f"grant() does not write {kind} rows")
    if kind is LedgerKind.ADJUSTMENT and amount < 0 and balance(session, shop_id) + amount < 0:
        raise InsufficientCredits(-amount, balance(session, shop_id))
    row = CreditLedger(
        shop_id=shop_id, kind=kind, amount=amount, reason=reason,
        staff_user_id=staff_user_id, reference=reference,
    )
    session.add(row)
    session.flush()
    return row


def charge(session: Session, job: GenerationJob, amount: int, reason: str = "") -> None:
    """Charge a job in the caller's transaction; raises InsufficientCredits when short."""
    if amount <= 0:
        job.credits_cost = 0
        return
    # Serialise charges per shop: the balance check and the insert must see the same balance.
    session.execute(select(Shop.id).where(Shop.id == job.shop_id).with_for_update())
    available = balance(session, job.shop_id)
    if available < amount:
        raise InsufficientCredits(amount, available)
    session.add(
        CreditLedger(
            shop_id=job.shop_id, job_id=job.id, kind=LedgerKind.CHARGE, amount=-amount,
            reason=reason or f"{job.workflow} job",
        )
    )
    job.credits_cost = amount
    session.flush()


def refund(session: Session, job: GenerationJob, amount: int | None = None, reason: str = "") -> int:
    """Refund `amount` (default: everything charged) once per job; returns credits refunded now."""
    amount = job.credits_cost if amount is None else min(amount, job.credits_cost)
    if amount <= 0 or job.credits_refunded:
        return 0
    try:
        with session.begin_nested():
            session.add(
                CreditLedger(
                    shop_id=job.shop_id, job_id=job.id, kind=LedgerKind.REFUND, amount=amount,
                    reason=reason or "refund",
                )
            )
    except IntegrityError:
        # Another worker (or an earlier attempt) refunded this job already.
        existing = session.scalar(
            select(CreditLedger.amount).where(
                CreditLedger.job_id == job.id, CreditLedger.kind == LedgerKind.REFUND
            )
        )
        job.credits_refunded = int(existing or 0)
        return 0
    job.credits_refunded = amount
    return amount
