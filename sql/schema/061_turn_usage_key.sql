-- 061_turn_usage_key.sql - one usage row per streamed turn, whatever the
-- retries.
--
-- A turn's last write (turn.write) commits its usage row together with the
-- answer.  When the connection is lost after that transaction committed but
-- before its reply arrived, the server cannot tell it from a write that
-- never ran, and runs it again on the next connection.  The server now
-- gives every turn a random key (128 bits) that its usage row carries:
-- usage.add and turn.write insert the row with ON CONFLICT (turn_key) DO
-- NOTHING, and a turn.write whose usage row is already there knows its first
-- attempt committed and writes nothing again (sql/functions/turns.sql).
-- Rows written before this migration, or without a key, keep NULL (NULLs
-- never conflict).  (In the ops range, not the turns one: the table is
-- 060_ops.sql's, and migrations run in number order.)

ALTER TABLE chatkit.turn_usage ADD COLUMN IF NOT EXISTS turn_key text;
CREATE UNIQUE INDEX IF NOT EXISTS turn_usage_turn_key ON chatkit.turn_usage (turn_key);
