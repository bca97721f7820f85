-- Whether the password signs in (and confirms sensitive actions). The owner may turn it off
-- once a passkey exists; the last passkey then cannot be removed until it is on again.
ALTER TABLE owner ADD COLUMN password_sign_in INTEGER NOT NULL DEFAULT 1;
