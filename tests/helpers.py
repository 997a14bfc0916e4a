"""Shared test steps (tests/RULES: new shared steps go here, not in conftest or other test modules)."""

from prometheus_client.parser import text_string_to_metric_families


def metric(text, name, **labels):
    """The value of sample `name` with (at least) `labels` in a Prometheus text exposition, summed
    over the samples that match; 0 when none does."""
    total = 0.0
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and all(sample.labels.get(key) == value for key, value in labels.items()):
                total += sample.value
    return total
