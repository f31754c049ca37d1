"""Tool-safety and utility evals (`flowgrid eval`): see `evals.safety.harness`."""
