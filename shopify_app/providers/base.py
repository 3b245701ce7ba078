"""The one protocol every generation provider implements, and the values it speaks in.

A provider never sleeps and never holds a worker: `submit_*` starts an upstream task and returns
at once with what must be persisted (`Submitted`); `poll` looks once and says when to look again
(`PollResult.next_poll_in`, seconds) so the engine *schedules* the next poll. Everything a later
call needs lives in `TaskState.data`, a JSON-serialisable dict the caller stores on the
`ProviderTask` row, so any worker (or the same one after a crash) can carry on.

Errors are one hierarchy, `ProviderError`, with four kinds that decide what happens next:

| kind            | examples                                     | what the runner does                     |
| --------------- | -------------------------------------------- | ---------------------------------------- |
| `technical`     | timeout, 5xx, upstream pipeline error        | retry (idempotent calls), then fallback  |
| `content`       | moderation, pose not found, bad garment      | no retry, no fallback; merchant reason   |
| `configuration` | bad key, unknown model/app, bad config       | fail fast, visible to support            |
| `quota`         | 429, out of upstream credits                 | back off `retry_after` seconds           |
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from shopify_app.models.enums import ProviderTaskStatus


class Capability(enum.StrEnum):
    MODEL_GENERATION = "model_generation"
    TRY_ON = "try_on"
    IDENTITY_TRAINING = "identity_training"
    CANCEL = "cancel"


class Operation(enum.StrEnum):
    """What a `ProviderTask` was submitted for (its `operation` column)."""

    MODEL_GENERATION = "model-generation"
    TRY_ON = "try-on"


class ErrorKind(enum.StrEnum):
    TECHNICAL = "technical"
    CONTENT = "content"
    CONFIGURATION = "configuration"
    QUOTA = "quota"


class ProviderError(Exception):
    """An upstream call failed; `kind` says what to do about it.

    `message` is written for the person who will read it: a merchant for content errors
    ("We couldn't find a person's pose in the model photo"), support for the others. It never
    contains a credential. `code` is short and stable (e.g. `http_503`, `timeout`,
    `content_moderation`) for filtering in the console.
    """

    kind: ErrorKind = ErrorKind.TECHNICAL

    def __init__(
        self,
        message: str,
        *,
        code: str = "provider_error",
        status_code: int | None = None,
        retry_after: float | None = None,
        provider: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.status_code = status_code
        self.retry_after = retry_after
        self.provider = provider

    @property
    def retryable(self) -> bool:
        return self.kind in (ErrorKind.TECHNICAL, ErrorKind.QUOTA)

    def summary(self) -> dict[str, Any]:
        return {
            "kind": str(self.kind),
            "code": self.code,
            "message": self.message,
            "status_code": self.status_code,
            "retry_after": self.retry_after,
        }

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.code!r}, {self.message!r})"


class TechnicalError(ProviderError):
    kind = ErrorKind.TECHNICAL


class ContentError(ProviderError):
    kind = ErrorKind.CONTENT


class ConfigurationError(ProviderError):
    kind = ErrorKind.CONFIGURATION


class QuotaError(ProviderError):
    kind = ErrorKind.QUOTA


ERROR_CLASSES: dict[ErrorKind, type[ProviderError]] = {
    ErrorKind.TECHNICAL: TechnicalError,
    ErrorKind.CONTENT: ContentError,
    ErrorKind.CONFIGURATION: ConfigurationError,
    ErrorKind.QUOTA: QuotaError,
}


def error_from_summary(summary: dict[str, Any]) -> ProviderError:
    """Rebuild an error from `ProviderError.summary()` (as stored on a task row)."""
    cls = ERROR_CLASSES.get(ErrorKind(summary.get("kind", "technical")), TechnicalError)
    return cls(
        str(summary.get("message") or "provider error"),
        code=str(summary.get("code") or "provider_error"),
        status_code=summary.get("status_code"),
        retry_after=summary.get("retry_after"),
    )


# ------------------------------------------------------------------------------------ inputs


@dataclass(frozen=True)
class ImageInput:
    """An image handed to a provider: bytes (with their content type) or a URL it can fetch."""

    data: bytes | None = None
    content_type: str = "image/png"
    url: str | None = None
    filename: str = "image"

    def __post_init__(self) -> None:
        if (self.data is None) == (self.url is None):
            raise ValueError("an ImageInput needs exactly one of data or url")

    @property
    def extension(self) -> str:
        return {"image/jpeg": "jpg", "image/webp": "webp"}.get(self.content_type, "png")

    def __repr__(self) -> str:  # never dump megabytes of bytes into a log line
        what = f"{len(self.data)} bytes" if self.data is not None else self.url
        return f"ImageInput({what}, {self.content_type})"


@dataclass(frozen=True)
class ModelSpec:
    """A catalog-model spec (seed 000's ModelGeneratorRequest)."""

    gender: str  # MALE | FEMALE
    ethnicity: str
    body_type: str
    age_range: str
    display_name: str = ""
    image_model: str | None = None
    resolution: str | None = None
    aspect_ratio: str | None = None
    seed: int | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    pilot_brand: str | None = None

    def describe(self) -> str:
        """A short English description, used to build prompts."""
        gender = {"MALE": "man", "FEMALE": "woman"}.get(self.gender.upper(), "person")
        return (
            f"a {self.age_range} year old {self.ethnicity} {gender} "
            f"with a {self.body_type} body type"
        )


@dataclass(frozen=True)
class Identity:
    """A trained identity at a provider (kept on the CatalogModel to reuse across a catalog)."""

    provider_model_id: str
    training_id: str | None = None
    trigger_word: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "provider_model_id": self.provider_model_id,
            "training_id": self.training_id,
            "trigger_word": self.trigger_word,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> Identity | None:
        if not data or not data.get("provider_model_id"):
            return None
        return cls(
            provider_model_id=str(data["provider_model_id"]),
            training_id=data.get("training_id"),
            trigger_word=data.get("trigger_word"),
        )


@dataclass(frozen=True)
class GenerationOptions:
    """How to render: size, count, seed, and provider-neutral hints.

    `reference_images` are identity photos for providers that train (photogpt, custom_models);
    `identity` reuses an identity already trained for this catalog model (no new training).
    """

    width: int | None = None
    height: int | None = None
    aspect_ratio: str | None = None
    num_images: int = 1
    seed: int | None = None
    output_format: str = "png"
    category: str = "auto"  # try-on garment category: auto | tops | bottoms | one-pieces
    prompt: str | None = None
    reference_images: tuple[ImageInput, ...] = ()
    identity: Identity | None = None
    webhook_url: str | None = None
    # Stable per (job, role, attempt): lets an upstream that honours it (a remote studio) answer
    # a resubmission after a crash with the job it already started.
    idempotency_key: str | None = None


# ------------------------------------------------------------------------------------ results


@dataclass
class TaskState:
    """What the engine persisted about an upstream task: its id, the adapter's data, poll count."""

    upstream_id: str
    data: dict[str, Any] = field(default_factory=dict)
    polls: int = 0


@dataclass
class Submitted:
    """An upstream task exists. Persist `upstream_id` and `state` before doing anything else."""

    upstream_id: str
    state: dict[str, Any] = field(default_factory=dict)
    status: ProviderTaskStatus = ProviderTaskStatus.QUEUED
    next_poll_in: float = 2.0
    request_summary: dict[str, Any] = field(default_factory=dict)
    response_summary: dict[str, Any] = field(default_factory=dict)


@dataclass
class PollResult:
    """One look at an upstream task.

    `status` is in the internal vocabulary. When FAILED, `error` says why (its kind decides
    retry/fallback). When not terminal, `next_poll_in` is when to look again. `state` replaces
    the persisted `TaskState.data` (adapters with several phases advance it here).
    """

    status: ProviderTaskStatus
    progress: int | None = None
    next_poll_in: float | None = None
    state: dict[str, Any] | None = None
    error: ProviderError | None = None
    identity: Identity | None = None
    response_summary: dict[str, Any] = field(default_factory=dict)

    @property
    def terminal(self) -> bool:
        return self.status in (
            ProviderTaskStatus.SUCCEEDED,
            ProviderTaskStatus.FAILED,
            ProviderTaskStatus.CANCELED,
        )


@dataclass(frozen=True)
class OutputImage:
    """One result image: bytes already in hand, or a URL to fetch with the safe downloader."""

    url: str | None = None
    data: bytes | None = None
    content_type: str | None = None
    width: int | None = None
    height: int | None = None

    def __repr__(self) -> str:
        what = f"{len(self.data)} bytes" if self.data is not None else self.url
        return f"OutputImage({what})"


# ------------------------------------------------------------------------------------ protocol


@runtime_checkable
class Provider(Protocol):
    """A generation provider. Implementations are cheap to build; build one per use."""

    type: str
    capabilities: frozenset[Capability]

    def submit_model_generation(self, spec: ModelSpec, options: GenerationOptions) -> Submitted:
        """Start rendering catalog-model portraits for `spec` (training an identity first when
        the provider works that way). Raises ProviderError."""
        ...

    def submit_try_on(
        self, person_image: ImageInput, garment_image: ImageInput, options: GenerationOptions
    ) -> Submitted:
        """Start dressing the person in `person_image` with the garment. Raises ProviderError."""
        ...

    def poll(self, task: TaskState) -> PollResult:
        """Look at the task once. Upstream task failures come back as FAILED with `error`;
        a failed *call* (timeout, 5xx, 401…) raises ProviderError."""
        ...

    def fetch_outputs(self, task: TaskState) -> list[OutputImage]:
        """The results of a SUCCEEDED task. Raises ProviderError."""
        ...

    def cancel(self, task: TaskState) -> None:
        """Ask upstream to stop the task, where it can (see `Capability.CANCEL`); else no-op."""
        ...


def unsupported(provider: str, what: str) -> ConfigurationError:
    return ConfigurationError(
        f"the {provider} provider cannot {what}; choose a generation model that supports it",
        code="unsupported_operation",
        provider=provider,
    )
