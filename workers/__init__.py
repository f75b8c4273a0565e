"""What runs jobs: the task registry, the two runners, and (later) the pipelines and backends."""
