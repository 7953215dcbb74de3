"""Privacy duties: consent ledger and texts, double opt-in, withdrawal, access export, erasure,
retention, the audit log, and the suppression list of keyed address HMACs."""

from retentio.privacy.addresses import (
    CHANNELS,
    address_hmac,
    normalise_address,
    normalise_email,
    normalise_phone,
)
from retentio.privacy.audit import AuditRecord, audit_entries, record_access
from retentio.privacy.consent import (
    LAWFUL_BASES,
    SOURCES,
    ConsentState,
    apply_event,
    current_consents,
    is_marketable,
    record_consent,
)
from retentio.privacy.erasure import ErasureReport, erase_person, pseudonym
from retentio.privacy.errors import ConsentError, NotFoundError
from retentio.privacy.export import export_person, export_schema, export_zip, validate_export
from retentio.privacy.optin import (
    CONFIRMATION_TTL,
    ConfirmationMessage,
    PendingOptIn,
    confirm_double_opt_in,
    confirmation_message,
    start_double_opt_in,
)
from retentio.privacy.retention import PURGE_CATEGORIES, PurgeReport, RetentionPolicy, purge
from retentio.privacy.suppression import is_suppressed, suppress
from retentio.privacy.texts import (
    CONSENT_CHANNELS,
    DEFAULT_TEXT_VERSION,
    DEFAULT_TEXTS,
    PURPOSES,
    WITHDRAWAL_KEYWORDS,
    ConsentTextInfo,
    list_texts,
    publish_default_texts,
    publish_text,
)
from retentio.privacy.withdrawal import (
    WITHDRAWAL_PURPOSE,
    WITHDRAWAL_TTL,
    withdraw_consent,
    withdraw_with_token,
    withdrawal_token,
)

__all__ = [
    "CHANNELS",
    "CONFIRMATION_TTL",
    "CONSENT_CHANNELS",
    "DEFAULT_TEXTS",
    "DEFAULT_TEXT_VERSION",
    "LAWFUL_BASES",
    "PURGE_CATEGORIES",
    "PURPOSES",
    "SOURCES",
    "WITHDRAWAL_KEYWORDS",
    "WITHDRAWAL_PURPOSE",
    "WITHDRAWAL_TTL",
    "AuditRecord",
    "ConfirmationMessage",
    "ConsentError",
    "ConsentState",
    "ConsentTextInfo",
    "ErasureReport",
    "NotFoundError",
    "PendingOptIn",
    "PurgeReport",
    "RetentionPolicy",
    "address_hmac",
    "apply_event",
    "audit_entries",
    "confirm_double_opt_in",
    "confirmation_message",
    "current_consents",
    "erase_person",
    "export_person",
    "export_schema",
    "export_zip",
    "is_marketable",
    "is_suppressed",
    "list_texts",
    "normalise_address",
    "normalise_email",
    "normalise_phone",
    "pseudonym",
    "publish_default_texts",
    "publish_text",
    "purge",
    "record_access",
    "record_consent",
    "start_double_opt_in",
    "suppress",
    "validate_export",
    "withdraw_consent",
    "withdraw_with_token",
    "withdrawal_token",
]
