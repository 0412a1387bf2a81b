"""Moving mailboxes from another IMAP server into zenmail, with proof (docs/migration.md)."""
