"""Notifying organizations of new critical alerts and escalations: e-mail and signed webhooks."""
