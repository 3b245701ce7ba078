"""The generation-model registry of seed 002: which provider (and fallback) runs a generation.

`service` holds the rules (shared by the `/api/v1/generation-models/` API and the support
console), `schemas` the seed's request/response shapes, `api` the HTTP endpoints.
The workflow engine calls `check_output_limits(model, width, height)` before accepting a job.
"""

from shopify_app.registry.service import OutputLimitExceeded, check_output_limits

__all__ = ["OutputLimitExceeded", "check_output_limits"]
