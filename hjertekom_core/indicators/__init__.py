"""The quality indicators K1-K6: definitions, computation in DuckDB, suppression, statistics."""
from hjertekom_core.indicators.definitions import BY_ID, INDICATORS, STATUS_LABELS, Indicator
from hjertekom_core.indicators.engine import (
    LEVELS,
    PERIODS,
    RESULT_COLUMNS,
    IndicatorSettings,
    compute,
    create_fact_views,
    load_clusters,
    settings_from_config,
    suppress,
)
from hjertekom_core.indicators.stats import CI_METHODS, clopper_pearson, wilson

__all__ = ["BY_ID", "CI_METHODS", "INDICATORS", "LEVELS", "PERIODS", "RESULT_COLUMNS", "STATUS_LABELS", "Indicator",
           "IndicatorSettings", "clopper_pearson", "compute", "create_fact_views", "load_clusters",
           "settings_from_config", "suppress", "wilson"]
