"""Operations' view of tieout: Prometheus metrics, structured logs and alerts."""
