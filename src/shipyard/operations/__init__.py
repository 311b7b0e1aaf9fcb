"""Operations: one module per verb. Each takes frozen options and a Context and returns a
result dataclass; with dry_run it returns the plan and changes nothing."""
