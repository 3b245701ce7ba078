"""Workflows: creating generation jobs (`service.create_job`) and naming catalog models."""
