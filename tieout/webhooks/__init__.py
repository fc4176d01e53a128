"""Webhook endpoints: signed Stripe and Metronome events that resync just the records they name."""
