-- When the gateway first became ready on this instance: until then the pages guide the owner
-- through the setup instead of showing an empty dashboard. An instance whose gateway has
-- been started before (it was given a credential) is past its first run already.
ALTER TABLE gateway_state ADD COLUMN first_ready_at INTEGER;
UPDATE gateway_state SET first_ready_at = 0 WHERE credential_sha256 IS NOT NULL;
