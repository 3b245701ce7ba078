"""Runs a job's provider work on `ProviderTask` rows: submit, poll, retry, fall back.

The workflow engine (`shopify_app.workflows.engine`, via `provider_io.runner()`) calls:

- `start(session, job, request)` once: submits on the job's generation model's primary provider;
- `advance(session, job)` whenever the returned `Advance.delay` has passed: polls the current
  task once and says what to do next — `POLL` again in `delay` seconds, outputs `READY`, or
  `FAILED` with the error's kind and a reason;
- `fetch_outputs(session, job)` once `READY`: the result images of the task that succeeded.

Rules (issue 4, DESIGN.md "every step is idempotent"):

- The upstream id is written on the task row in the same step as the submit, before anything
  else runs; a task with an upstream id is only ever polled, never submitted again. A task row
  without one (a crash between the upstream's answer and our commit) is resubmitted with the
  same `idempotency_key` (`{job}:{role}:{attempt}`), which upstreams that honour it (a remote
  studio) answer with the job they already started.
- A *technical* failure (timeout, 5xx, pipeline error, a task that failed upstream) is retried on
  the same provider up to `settings.provider_technical_retries` times, with a growing scheduled
  delay; then the job's `fallback_provider` runs with `fallback_provider_config`
  (a new `ProviderTask`, role `fallback`). *Quota* errors back off by `retry_after` and count as
  attempts. *Content* errors never retry and never fall back. *Configuration* errors fail fast.
- `on_technical_failure` (seed 000; job input) narrows this: `retry` retries but never falls
  back, `fail` neither retries nor falls back.
- Failed calls while polling (a timeout on a status GET) are not task failures: the poll is
  scheduled again with backoff, and only after `POLL_ERROR_LIMIT` in a row does the task fail.

Every attempt is its own `ProviderTask` row, so the job records both the primary and the
fallback attempts with their redacted request/response summaries.
"""

from __future__ import annotations

import enum
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import event, select
from sqlalchemy.orm import Session

from shopify_app.models import GenerationJob, GenerationModel, ProviderTask, ProviderTaskStatus, utcnow
from shopify_app.providers import get_provider
from shopify_app.providers.base import (
    ErrorKind,
    GenerationOptions,
    Identity,
    ImageInput,
    ModelSpec,
    Operation,
    OutputImage,
    PollResult,
    Provider,
    ProviderError,
    Submitted,
    TaskState,
    TechnicalError,
    ConfigurationError,
    error_from_summary,
)
from shopify_app.providers.http import summarize
from shopify_app.settings import Settings

log = logging.getLogger(__name__)

PRIMARY = "primary"
FALLBACK = "fallback"
POLL_ERROR_LIMIT = 5
MAX_BACKOFF = 600.0
DEFAULT_QUOTA_BACKOFF = 30.0
TERMINAL = (ProviderTaskStatus.SUCCEEDED, ProviderTaskStatus.FAILED, ProviderTaskStatus.CANCELED)
# A job's attempts and its generation model, kept for the rest of the transaction: a step
# asks for them on submit, on the inline poll and on fetching outputs (each a SELECT, since the
# session's identity map drops rows nobody holds). Dropped at commit or any rollback.
_CACHE = "studio.provider_runner"


@event.listens_for(Session, "after_commit")
@event.listens_for(Session, "after_rollback")
def _forget(session: Session) -> None:
    session.info.pop(_CACHE, None)


@event.listens_for(Session, "after_soft_rollback")
def _forget_soft(session: Session, _previous: Any) -> None:
    session.info.pop(_CACHE, None)  # a savepoint rolled back may have taken a new attempt with it


def _cached(session: Session) -> dict[Any, Any]:
    return session.info.setdefault(_CACHE, {})


@dataclass(frozen=True)
class ProviderRequest:
    """What to ask a provider for. Rebuilt from the job whenever a (re)submission is needed,
    because image bytes are not stored on task rows."""

    operation: Operation
    spec: ModelSpec | None = None
    person_image: ImageInput | None = None
    garment_image: ImageInput | None = None
    options: GenerationOptions = field(default_factory=GenerationOptions)


RequestLoader = Callable[[Session, GenerationJob], ProviderRequest]


class AdvanceKind(enum.StrEnum):
    POLL = "poll"  # look again (advance) after `delay` seconds
    READY = "ready"  # outputs are ready: call fetch_outputs
    FAILED = "failed"  # the job's provider work failed for good: `error` says why


@dataclass
class Advance:
    kind: AdvanceKind
    task: ProviderTask | None
    delay: float = 0.0
    error: ProviderError | None = None
    progress: int | None = None
    identity: Identity | None = None

    @property
    def error_kind(self) -> str | None:
        return str(self.error.kind) if self.error else None


class ProviderRunner:
    def __init__(
        self,
        settings: Settings,
        load_request: RequestLoader,
        *,
        provider_factory: Callable[..., Provider] = get_provider,
        http: Any = None,
    ) -> None:
        self.settings = settings
        self.load_request = load_request
        self.provider_factory = provider_factory
        self.http = http

    # ------------------------------------------------------------------ queries

    @staticmethod
    def tasks(session: Session, job: GenerationJob) -> list[ProviderTask]:
        """The job's attempts in the order they ran: primary attempts, then fallback attempts.
        (Not by ULID: two ids minted in the same millisecond do not sort by creation.)"""
        rows = session.scalars(select(ProviderTask).where(ProviderTask.job_id == job.id))
        return sorted(rows, key=lambda t: (t.role == FALLBACK, t.attempt))

    def current_task(self, session: Session, job: GenerationJob) -> ProviderTask | None:
        cache = _cached(session)
        tasks = cache.get(("tasks", job.id))
        if tasks is None:
            tasks = cache[("tasks", job.id)] = self.tasks(session, job)
        return tasks[-1] if tasks else None

    def generation_model(self, session: Session, job: GenerationJob) -> GenerationModel:
        cache = _cached(session)
        model = cache.get(("model", job.generation_model_id))
        if model is None:
            model = session.get(GenerationModel, job.generation_model_id) if job.generation_model_id else None
            if model is None:
                raise ConfigurationError("the job has no generation model", code="no_generation_model")
            cache[("model", job.generation_model_id)] = model
        return model

    def provider_for(self, model: GenerationModel, role: str) -> Provider:
        if role == FALLBACK:
            if not model.fallback_provider:
                raise ConfigurationError("the generation model has no fallback provider", code="no_fallback")
            return self.provider_factory(model.fallback_provider, model.fallback_provider_config, self.settings, http=self.http)
        return self.provider_factory(model.provider, model.provider_config, self.settings, http=self.http)

    # ------------------------------------------------------------------ start

    def start(self, session: Session, job: GenerationJob, request: ProviderRequest | None = None) -> Advance:
        """Submit on the primary provider, unless this job already has an attempt (a repeated
        step): then carry on from it instead of submitting twice."""
        current = self.current_task(session, job)
        if current is not None:
            return self.advance(session, job)
        model = self.generation_model(session, job)
        request = request or self.load_request(session, job)
        return self._submit(session, job, model, PRIMARY, 1, request)

    # ------------------------------------------------------------------ advance

    def advance(self, session: Session, job: GenerationJob) -> Advance:
        task = self.current_task(session, job)
        if task is None:
            return self.start(session, job)
        status = ProviderTaskStatus(task.status)
        if status is ProviderTaskStatus.SUCCEEDED:
            return Advance(AdvanceKind.READY, task, progress=100)
        if status in (ProviderTaskStatus.FAILED, ProviderTaskStatus.CANCELED):
            return self._continue_after_failure(session, job, task)
        model = self.generation_model(session, job)
        if task.upstream_id is None:
            # Created but never recorded as submitted (a crash mid-submit): submit it again,
            # under the same idempotency key.
            return self._submit(session, job, model, task.role, task.attempt, self.load_request(session, job), task)
        return self._poll(session, job, model, task)

    def _poll(self, session: Session, job: GenerationJob, model: GenerationModel, task: ProviderTask) -> Advance:
        provider = self._provider_or_fail(model, task)
        if isinstance(provider, Advance):
            return provider
        state = TaskState(upstream_id=task.upstream_id or "", data=dict(task.state or {}), polls=task.polls)
        try:
            result = provider.poll(state)
        except ProviderError as exc:
            return self._poll_error(session, job, task, exc)
        finally:
            task.polls = (task.polls or 0) + 1
            task.updated_at = utcnow()
        return self._apply_poll(session, job, task, result)

    def _apply_poll(self, session: Session, job: GenerationJob, task: ProviderTask, result: PollResult) -> Advance:
        data = dict(result.state if result.state is not None else (task.state or {}))
        data.pop("poll_errors", None)
        if result.identity is not None:
            data["identity"] = result.identity.to_dict()
        task.state = data
        task.status = result.status
        task.response_summary = {**(task.response_summary or {}), "last_poll": summarize(result.response_summary)}
        if result.status is ProviderTaskStatus.SUCCEEDED:
            task.finished_at = utcnow()
            return Advance(AdvanceKind.READY, task, progress=100, identity=result.identity)
        if result.status is ProviderTaskStatus.FAILED:
            error = result.error or TechnicalError("the provider reported a failure", code="upstream_failed")
            return self._fail_task(session, job, task, error)
        if result.status is ProviderTaskStatus.CANCELED:
            if job.cancel_requested:
                self._mark_failed(task, TechnicalError("canceled on request", code="canceled"))
                return Advance(AdvanceKind.FAILED, task, error=ConfigurationError("The job was canceled.", code="canceled"))
            # Canceled upstream, not by us: the upstream gave up, which is technical.
            return self._fail_task(session, job, task, TechnicalError("the provider canceled the task", code="upstream_canceled"))
        delay = result.next_poll_in if result.next_poll_in is not None else 5.0
        return Advance(AdvanceKind.POLL, task, delay=delay, progress=result.progress, identity=result.identity)

    def _poll_error(self, session: Session, job: GenerationJob, task: ProviderTask, exc: ProviderError) -> Advance:
        if exc.kind in (ErrorKind.CONTENT, ErrorKind.CONFIGURATION):
            return self._fail_task(session, job, task, exc)
        data = dict(task.state or {})
        errors = int(data.get("poll_errors", 0)) + 1
        data["poll_errors"] = errors
        task.state = data
        task.response_summary = {**(task.response_summary or {}), "last_poll_error": exc.summary()}
        if exc.kind is ErrorKind.QUOTA:
            return Advance(AdvanceKind.POLL, task, delay=min(MAX_BACKOFF, exc.retry_after or DEFAULT_QUOTA_BACKOFF))
        if errors >= POLL_ERROR_LIMIT:
            return self._fail_task(session, job, task, exc)
        return Advance(AdvanceKind.POLL, task, delay=min(MAX_BACKOFF, 5.0 * 2 ** (errors - 1)))

    # ------------------------------------------------------------------ submit

    def _submit(
        self,
        session: Session,
        job: GenerationJob,
        model: GenerationModel,
        role: str,
        attempt: int,
        request: ProviderRequest,
        task: ProviderTask | None = None,
    ) -> Advance:
        provider_type = model.fallback_provider if role == FALLBACK else model.provider
        if task is None:
            task = ProviderTask(
                job_id=job.id,
                provider=provider_type or "",
                role=role,
                operation=str(request.operation),
                attempt=attempt,
                status=ProviderTaskStatus.QUEUED,
            )
            # Not flushed here: the row is INSERTed with the step's other writes, already
            # carrying the upstream id (one statement instead of an INSERT and two UPDATEs).
            # The whole step is one transaction, so flushing earlier would persist nothing
            # sooner, and the job's row lock (`steps.claim`) keeps a second submit of the
            # same attempt out.
            session.add(task)
            known = _cached(session).get(("tasks", job.id))
            if known is not None:
                known.append(task)
                known.sort(key=lambda t: (t.role == FALLBACK, t.attempt))
        job.attempts = (job.attempts or 0) + 1
        provider = self._provider_or_fail(model, task)
        if isinstance(provider, Advance):
            return provider
        options = request.options
        key = f"{job.id}:{role}:{attempt}"
        if options.idempotency_key != key:
            options = _replace_options(options, idempotency_key=key)
        try:
            submitted = self._call_submit(provider, request, options)
        except ProviderError as exc:
            task.request_summary = {"calls": _exchanges(provider)}
            return self._fail_task(session, job, task, exc)
        # Record the upstream id first: from here on this task is polled, never resubmitted.
        task.upstream_id = submitted.upstream_id
        task.state = submitted.state
        task.status = submitted.status
        task.request_summary = summarize(submitted.request_summary)
        task.response_summary = summarize(submitted.response_summary)
        task.updated_at = utcnow()
        log.info("submitted %s task %s (%s, attempt %s) for job %s", task.provider, task.upstream_id, role, attempt, job.id)
        return Advance(AdvanceKind.POLL, task, delay=submitted.next_poll_in, progress=0)

    @staticmethod
    def _call_submit(provider: Provider, request: ProviderRequest, options: GenerationOptions) -> Submitted:
        if request.operation is Operation.TRY_ON:
            if request.person_image is None or request.garment_image is None:
                raise ConfigurationError("a try-on needs a person image and a garment image", code="missing_images")
            return provider.submit_try_on(request.person_image, request.garment_image, options)
        if request.spec is None:
            raise ConfigurationError("a model generation needs a spec", code="missing_spec")
        return provider.submit_model_generation(request.spec, options)

    def _provider_or_fail(self, model: GenerationModel, task: ProviderTask) -> Provider | Advance:
        try:
            return self.provider_for(model, task.role)
        except ProviderError as exc:
            self._mark_failed(task, exc)
            return Advance(AdvanceKind.FAILED, task, error=exc)

    # ------------------------------------------------------------------ failure policy

    @staticmethod
    def _mark_failed(task: ProviderTask, error: ProviderError) -> None:
        task.status = ProviderTaskStatus.FAILED
        task.error_kind = str(error.kind)
        task.error_message = error.message
        task.finished_at = utcnow()
        task.updated_at = utcnow()
        task.response_summary = {**(task.response_summary or {}), "error": error.summary()}

    def _fail_task(self, session: Session, job: GenerationJob, task: ProviderTask, error: ProviderError) -> Advance:
        """Record the failure, then decide (once, now) what runs next; the decision is stored
        on the row so a repeated step makes the same one."""
        self._mark_failed(task, error)
        plan = self._plan_after(session, job, task, error)
        task.state = {**(task.state or {}), "next": plan}
        if plan is None:
            log.info("job %s: %s task failed (%s): %s; no more attempts", job.id, task.provider, error.kind, error.message)
            return Advance(AdvanceKind.FAILED, task, error=error)
        log.info("job %s: %s task failed (%s); next: %s", job.id, task.provider, error.kind, plan)
        return Advance(AdvanceKind.POLL, task, delay=float(plan["delay"]), error=error)

    def _plan_after(self, session: Session, job: GenerationJob, task: ProviderTask, error: ProviderError) -> dict[str, Any] | None:
        if error.kind in (ErrorKind.CONTENT, ErrorKind.CONFIGURATION) or job.cancel_requested:
            return None
        policy = str((job.inputs or {}).get("on_technical_failure") or "fallback")
        if policy == "fail":
            return None
        retries = self.settings.provider_technical_retries
        if task.attempt <= retries:
            if error.kind is ErrorKind.QUOTA:
                delay = min(MAX_BACKOFF, error.retry_after or DEFAULT_QUOTA_BACKOFF)
            else:
                delay = min(MAX_BACKOFF, 2.0 * 2 ** (task.attempt - 1))
            return {"role": task.role, "attempt": task.attempt + 1, "delay": delay}
        if policy == "fallback" and task.role == PRIMARY:
            model = self.generation_model(session, job)
            if model.fallback_provider:
                return {"role": FALLBACK, "attempt": 1, "delay": 0.0}
        return None

    def _continue_after_failure(self, session: Session, job: GenerationJob, task: ProviderTask) -> Advance:
        plan = (task.state or {}).get("next")
        summary = (task.response_summary or {}).get("error") or {
            "kind": task.error_kind or "technical", "message": task.error_message or "failed"
        }
        error = error_from_summary(summary)
        if not plan:
            return Advance(AdvanceKind.FAILED, task, error=error)
        model = self.generation_model(session, job)
        return self._submit(session, job, model, plan["role"], int(plan["attempt"]), self.load_request(session, job))

    # ------------------------------------------------------------------ outputs / cancel

    def fetch_outputs(self, session: Session, job: GenerationJob) -> list[OutputImage]:
        task = self.current_task(session, job)
        if task is None or ProviderTaskStatus(task.status) is not ProviderTaskStatus.SUCCEEDED:
            raise ConfigurationError("no succeeded provider task to read outputs from", code="not_ready")
        provider = self.provider_for(self.generation_model(session, job), task.role)
        outputs = provider.fetch_outputs(TaskState(task.upstream_id or "", dict(task.state or {}), task.polls))
        task.response_summary = {**(task.response_summary or {}), "outputs": len(outputs)}
        return outputs

    def cancel(self, session: Session, job: GenerationJob) -> None:
        """Best effort: ask the upstream to stop the running task (where it can)."""
        task = self.current_task(session, job)
        if task is None or task.upstream_id is None or ProviderTaskStatus(task.status) in TERMINAL:
            return
        provider = self.provider_for(self.generation_model(session, job), task.role)
        try:
            provider.cancel(TaskState(task.upstream_id, dict(task.state or {}), task.polls))
        except ProviderError as exc:
            log.warning("could not cancel %s task %s: %s", task.provider, task.upstream_id, exc.message)
        self._mark_failed(task, TechnicalError("canceled on request", code="canceled"))
        task.state = {**(task.state or {}), "next": None}
        task.status = ProviderTaskStatus.CANCELED


def _replace_options(options: GenerationOptions, **changes: Any) -> GenerationOptions:
    import dataclasses

    return dataclasses.replace(options, **changes)


def _exchanges(provider: Provider) -> list[dict[str, Any]]:
    getter = getattr(provider, "exchanges", None)
    return getter() if callable(getter) else []
