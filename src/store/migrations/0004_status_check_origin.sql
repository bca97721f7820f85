-- Status checks posted without the owner's session are counted against a budget of their
-- own, so strangers never push out the owner's history. Rows from before are the owner's.
ALTER TABLE status_checks ADD COLUMN anonymous INTEGER NOT NULL DEFAULT 0;
CREATE INDEX status_checks_by_origin ON status_checks (anonymous, id);
