"""Background jobs: plain module-level functions taking ids, run by RQ workers.

Every job is wrapped by `jobs.runtime.studio_job`, which gives it an app context, one session
and transaction, and log lines carrying the job id, and lets exceptions propagate to RQ.
"""
