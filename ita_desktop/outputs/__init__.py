"""outputs/: the only package that speaks to Telegram and Notion; it delivers the outbox's rows."""
