"""Quality indicators declared as data (K1-K6 for hjertekom): declarations, computation in DuckDB,
suppression, statistics."""
from hjertekom_core.indicators.definitions import BY_ID, INDICATORS, STATUS_LABELS, Indicator
from hjertekom_core.indicators.engine import (
    COUNT_COLUMNS,
    LEVELS,
    PERIODS,
    RESULT_COLUMNS,
    IndicatorSettings,
    compute,
    create_fact_views,
    load_clusters,
    reference_date,
    settings_from_config,
)
from hjertekom_core.indicators.stats import CI_METHODS, clopper_pearson, wilson

__all__ = ["BY_ID", "CI_METHODS", "COUNT_COLUMNS", "INDICATORS", "LEVELS", "PERIODS", "RESULT_COLUMNS",
           "STATUS_LABELS", "Indicator", "IndicatorSettings", "clopper_pearson", "compute", "create_fact_views",
           "load_clusters", "reference_date", "settings_from_config", "wilson"]
