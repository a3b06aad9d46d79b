"""`digest status` and `digest cancel`: what the ledger knows about each edition."""

from __future__ import annotations

from datetime import date

from digest.config import Config
from digest.deliver.ledger import DONE, Ledger
from digest.errors import DigestError
from digest.recipients import newsletter_readers


def _ledger(config: Config) -> Ledger | None:
    path = config.state_path
    return Ledger(path) if path.is_file() else None


def edition_status(config: Config, day: date | None) -> list[str]:
    ledger = _ledger(config)
    if ledger is None:
        return ["nothing sent yet"]
    try:
        stats = ledger.stats(config.newsletter.url, day.isoformat() if day else None)
        if not stats:
            return [f"nothing sent for {day}" if day else "nothing sent yet"]
        keys = [r.key for r in newsletter_readers(config, lambda problem: None)]
        lines = []
        for entry in stats:
            handled = ledger.statuses(entry.edition_id, entry.round)
            remaining = sum(1 for key in keys if handled.get(key) not in DONE)
            lines.append(
                f"{entry.day}  {entry.edition_id}  round {entry.round}: sent {entry.sent}, "
                f"failed {entry.failed}, refused {entry.refused}, unknown {entry.unknown}, "
                f"remaining {remaining}  ({entry.subject})"
            )
        return lines
    finally:
        ledger.close()


def cancel_scheduled(config: Config, day: date) -> list[str]:
    from digest.deliver.sendgrid import SendGridBackend

    ledger = _ledger(config)
    scheduled = ledger.scheduled(config.newsletter.url, day.isoformat()) if ledger else []
    if not scheduled:
        raise DigestError(f"no scheduled send for {day}; only SendGrid sends with "
                          "delivery.sendgrid.send_at can be cancelled")
    backend = SendGridBackend(config.delivery.sendgrid)
    lines = []
    for edition_id, batch_id, _ in scheduled:
        backend.cancel(batch_id)
        lines.append(f"{edition_id}: scheduled send cancelled (batch {batch_id})")
    return lines
