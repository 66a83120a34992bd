-- Verification codes are now stored as HMACs under a key derived from DATA_ENCRYPTION_KEY.
-- Pending ones were plain SHA-256 hashes (a dump reverses a 6-digit code at once) and could
-- no longer be checked: they are dropped. They live 15 minutes; a user asks for a new code.
DELETE FROM `email_verifications`;
