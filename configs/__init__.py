"""Scenario configs: one module per scenario, each with get_config() -> ConfigDict."""
