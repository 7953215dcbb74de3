"""Retention analytics: pure functions over tables.

Every function takes the normalised transactions (from :func:`load_transactions`) and an
explicit ``observation_end``; none reads a database, the clock or the environment. Results are
pandas DataFrames (or a dict for :func:`kpis`). The loyalty figures
(:mod:`retentio.analytics.loyalty`) take the programme's members, ledger entries and tier
changes; those over time take their window as arguments too. The survey figures
(:mod:`retentio.analytics.feedback`) take the answers and segment memberships. The
subscription figures (:mod:`retentio.analytics.subscriptions`) take the subscriptions, their
events and their orders.
"""

from retentio.analytics.cohorts import cohort_matrix, cohort_table
from retentio.analytics.describe import DataRange, data_range
from retentio.analytics.feedback import (
    NPS_CATEGORIES,
    SEGMENT_MEMBERSHIPS_SCHEMA,
    SURVEY_RESPONSES_SCHEMA,
    CsatScore,
    NpsScore,
    csat,
    csat_by_segment,
    csat_over_time,
    feedback_outcomes,
    nps,
    nps_by_segment,
    nps_over_time,
    responses_over_time,
)
from retentio.analytics.interpurchase import (
    interpurchase_gaps,
    interpurchase_histogram,
    time_between_purchases,
)
from retentio.analytics.kpis import KPI_KEYS, kpi_trends, kpis, trend_direction
from retentio.analytics.loading import (
    LoadReport,
    load_report,
    load_transactions,
    source_columns,
    write_transactions,
)
from retentio.analytics.loyalty import (
    LOYALTY_ENTRIES_SCHEMA,
    LOYALTY_MEMBERS_SCHEMA,
    TIER_CHANGES_SCHEMA,
    PointsLiability,
    Redemption,
    member_comparison,
    points_liability,
    redemption_rate,
    tier_distribution,
    tier_migration,
)
from retentio.analytics.newreturning import new_vs_returning, returning_revenue_share
from retentio.analytics.repeat import repeat_purchase_rate
from retentio.analytics.retention import churn_threshold_days, period_churn, threshold_churn
from retentio.analytics.rfm import SEGMENTS, rfm, rfm_segments
from retentio.analytics.schema import TRANSACTIONS_SCHEMA
from retentio.analytics.send_time import best_hours
from retentio.analytics.subscriptions import (
    SUBSCRIPTION_EVENTS_SCHEMA,
    SUBSCRIPTION_ORDERS_SCHEMA,
    SUBSCRIPTIONS_SCHEMA,
    ActiveSubscriptions,
    PauseRates,
    SubscriptionChurn,
    active_subscriptions,
    cohort_survival,
    pause_rates,
    recurring_revenue,
    save_offer_acceptance,
    subscription_churn,
    subscription_order_totals,
    subscription_status,
)
from retentio.analytics.summary import calibration_holdout, purchase_timeline, summarize
from retentio.analytics.value import customer_value, historical_clv, order_metrics

__all__ = [
    "KPI_KEYS",
    "LOYALTY_ENTRIES_SCHEMA",
    "LOYALTY_MEMBERS_SCHEMA",
    "NPS_CATEGORIES",
    "SEGMENTS",
    "SEGMENT_MEMBERSHIPS_SCHEMA",
    "SUBSCRIPTIONS_SCHEMA",
    "SUBSCRIPTION_EVENTS_SCHEMA",
    "SUBSCRIPTION_ORDERS_SCHEMA",
    "SURVEY_RESPONSES_SCHEMA",
    "TIER_CHANGES_SCHEMA",
    "TRANSACTIONS_SCHEMA",
    "ActiveSubscriptions",
    "CsatScore",
    "DataRange",
    "LoadReport",
    "NpsScore",
    "PauseRates",
    "PointsLiability",
    "Redemption",
    "SubscriptionChurn",
    "active_subscriptions",
    "best_hours",
    "calibration_holdout",
    "churn_threshold_days",
    "cohort_matrix",
    "cohort_survival",
    "cohort_table",
    "csat",
    "csat_by_segment",
    "csat_over_time",
    "customer_value",
    "data_range",
    "feedback_outcomes",
    "historical_clv",
    "interpurchase_gaps",
    "interpurchase_histogram",
    "kpi_trends",
    "kpis",
    "load_report",
    "load_transactions",
    "member_comparison",
    "new_vs_returning",
    "nps",
    "nps_by_segment",
    "nps_over_time",
    "order_metrics",
    "pause_rates",
    "period_churn",
    "points_liability",
    "purchase_timeline",
    "recurring_revenue",
    "redemption_rate",
    "repeat_purchase_rate",
    "responses_over_time",
    "returning_revenue_share",
    "rfm",
    "rfm_segments",
    "save_offer_acceptance",
    "source_columns",
    "subscription_churn",
    "subscription_order_totals",
    "subscription_status",
    "summarize",
    "threshold_churn",
    "tier_distribution",
    "tier_migration",
    "time_between_purchases",
    "trend_direction",
    "write_transactions",
]
