"""The plan catalogue (SPEC §5): what each subscription tier may use.

Read from the organization's row on every request, so an upgrade or downgrade applies at once.
Billing (checkout, webhooks) decides which tier an organization is on; this module says what a
tier allows.
"""

from dataclasses import dataclass

WINDOWS: tuple[str, ...] = ("1hr", "4hr", "24hr")


@dataclass(frozen=True)
class Plan:
    tier: str
    name: str
    price_usd_per_month: int
    max_compressors: int | None  # None: unlimited
    windows: tuple[str, ...]
    history_days: int
    api_access: bool
    predictions: bool
    bulk_export: bool

    def allows_window(self, window: str) -> bool:
        return window in self.windows


FREE = Plan("free", "Free", 0, 2, ("1hr",), 7, api_access=False, predictions=False, bulk_export=False)
PRO = Plan("pro", "Pro", 49, 20, WINDOWS, 90, api_access=True, predictions=False, bulk_export=False)
ENTERPRISE = Plan(
    "enterprise", "Enterprise", 199, None, WINDOWS, 365, api_access=True, predictions=True, bulk_export=True
)
PLANS: dict[str, Plan] = {plan.tier: plan for plan in (FREE, PRO, ENTERPRISE)}


def plan_for(tier: str) -> Plan:
    """The plan of a tier; an unknown tier gets the most restrictive plan, never a paid one."""
    return PLANS.get(tier, FREE)


def plans_with(feature: str) -> str:
    """'Pro or Enterprise' — the plans offering a feature, for upgrade messages."""
    names = [plan.name for plan in PLANS.values() if getattr(plan, feature)]
    return " or ".join(names)


def plans_with_window(window: str) -> str:
    return " or ".join(plan.name for plan in PLANS.values() if plan.allows_window(window))
