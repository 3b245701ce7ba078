"""A job step used by the runtime tests: it can be told to block, so a test can kill its worker
mid-run. Every execution is appended to a file, so a test can count executions apart from the
single committed completion."""

from __future__ import annotations

import os
import time
from pathlib import Path

from jobs.runtime import current_rq_job_id, studio_job
from shopify_app import db
from shopify_app.steps import claim, finish_job


@studio_job
def record_completion(job_id: str) -> None:
    session = db.session()
    job = claim(session, job_id, current_rq_job_id())
    if job is None:
        return
    control = Path(job.inputs["control_dir"])
    with (control / "executions").open("a") as fh:
        fh.write(f"{os.getpid()}\n")
    block_file = control / "block"
    if block_file.exists():
        block_file.unlink()  # block only the first execution
        (control / "started").write_text(str(os.getpid()))
        while True:  # held here until the test kills this worker
            time.sleep(0.05)
    job.outputs = {"completions": job.outputs.get("completions", 0) + 1}
    finish_job(job)
