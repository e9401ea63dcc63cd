"""Notifications: channels (webhooks, e-mail), events, and a rate-limited dispatcher."""
