"""The generation-model registry of seed 002."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from sqlalchemy import JSON, Float, Integer, String, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from shopify_app.models.base import Base, created_at, updated_at


class GenerationModel(Base):
    """Which provider (and which fallback) runs a generation, with what configuration.

    Provider credentials never live here: they come from the environment (settings), so this
    table holds nothing secret and can be shown to support and to the public read endpoints.
    """

    __tablename__ = "generation_models"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    name: Mapped[str] = mapped_column(String(120))
    icon: Mapped[str | None] = mapped_column(String(255))
    provider: Mapped[str] = mapped_column(String(40))
    provider_config: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    provider_capabilities: Mapped[list[Any] | None] = mapped_column(JSON)
    fallback_provider: Mapped[str | None] = mapped_column(String(40))
    fallback_provider_config: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    fallback_provider_capabilities: Mapped[list[Any] | None] = mapped_column(JSON)
    tool_types: Mapped[list[Any]] = mapped_column(JSON, default=list)
    recommended: Mapped[bool] = mapped_column(default=False)
    beta: Mapped[bool] = mapped_column(default=False)
    max_output_width: Mapped[int | None] = mapped_column(Integer)
    max_output_height: Mapped[int | None] = mapped_column(Integer)
    max_size_pixels: Mapped[int | None] = mapped_column(Integer)
    # Scales the workflow's credit price for this model (a costlier provider costs more credits).
    credit_multiplier: Mapped[float] = mapped_column(Float, default=1.0, server_default="1")
    created_at: Mapped[dt.datetime] = created_at()
    updated_at: Mapped[dt.datetime] = updated_at()
