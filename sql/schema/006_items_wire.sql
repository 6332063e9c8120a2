-- 006_items_wire.sql - every item also keeps its wire JSON as text, so the
-- hot reads (sql/functions/reads.sql) join stored text instead of printing
-- jsonb on every read.
--
-- items.wire is a stored generated column (jsonb's text form of `data`), so
-- every write path, present or future, keeps it exact without a trigger.
-- Cost: items store their JSON twice (jsonb + text; TOAST compresses both
-- above ~2 kB), and adding the column rewrote chatkit.items once, under an
-- ACCESS EXCLUSIVE lock.

ALTER TABLE chatkit.items ADD COLUMN wire text GENERATED ALWAYS AS (data::text) STORED;
