"""Running tieout unattended: scheduled jobs, job locks, the leader lease and the executors that run jobs."""
