"""The audit trail, read side: recompute and verify the hash chain, sign checkpoints of its head,
and export it decrypted. The write side is the `audit_record_change` trigger in the database
(store/migrations/ddl.py); docs/audit.md describes both and the digest's byte layout."""
