"""The MLflow-compatible tracking API: MLflow's search grammar, and (next) its REST routes."""
