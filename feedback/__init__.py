"""The system of record: decisions, outcomes, model versions, experiments and retrain jobs."""
