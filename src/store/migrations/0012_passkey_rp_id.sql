-- The relying party id (the public URL's host) each passkey was made for: after a move to
-- another name, those made for the old one cannot sign in, and must not count as a way in
-- or as the second factor. NULL: made before this was kept (taken as made here).
ALTER TABLE passkeys ADD COLUMN rp_id TEXT;
