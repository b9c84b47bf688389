"""NN5xx — budgets: each line of the spec's ``budget`` section against the computed figure."""
