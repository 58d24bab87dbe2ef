"""Plans and limits, Stripe checkout, portal and webhooks."""
