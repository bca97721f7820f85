-- When the gateway first became ready on this instance: until then the pages guide the owner
-- through the setup instead of showing an empty dashboard.
ALTER TABLE gateway_state ADD COLUMN first_ready_at INTEGER;
